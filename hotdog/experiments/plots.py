"""Pictures: the chapter's 2x8 data grid and the learning curves.

Drawn on ``matplotlib.figure.Figure`` objects, never through pyplot: importing this module changes no
process-wide state (a notebook keeps its own backend), and no figure is left open in pyplot's registry.
"""
import os

from matplotlib.figure import Figure

from .._io import atomic_save
from ..data.check import require_usable
from ..data.folders import dataset_root, load_split


def save_figure(fig, out):
    """Write ``fig`` to ``out`` as PNG, atomically (temp file, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    return atomic_save(lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png"), out)


def image_grid(images, rows, cols, titles=None, scale=1.5):
    """A figure with ``images`` (HxWx3 uint8 arrays) in a ``rows`` x ``cols`` grid."""
    fig = Figure(figsize=(cols * scale, rows * scale))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images) and images[i] is not None:
            ax.imshow(images[i])
            if titles:
                ax.set_title(titles[i], fontsize=8)
    return fig


def save_data_samples(data_dir, out, n=8, skip_bad_images=False, exclude=None):
    """The chapter's picture: the first ``n`` hotdog and the last ``n`` not-hotdog training images
    (for other data: the first class's first and the last class's last images).

    The folder is checked first (``check.require_usable``) unless the caller passes ``exclude``, the images
    to leave out that its own check found.
    """
    if exclude is None:
        exclude = require_usable(dataset_root(data_dir), skip_bad_images=skip_bad_images)
    train = load_split(data_dir, "train", exclude=exclude)
    first, last = 0, len(train.synsets) - 1  # hotdog and not-hotdog for the chapter's data
    labels = [label for _, label in train.items]
    top = [i for i, label in enumerate(labels) if label == first][:n]
    bottom = [i for i, label in enumerate(labels) if label == last][::-1][:n]
    # Chosen by label, not by position, so a small folder never shows a not-hotdog under "hotdog".
    images = [train[i][0].asnumpy() for i in top] + [None] * (n - len(top))
    images += [train[i][0].asnumpy() for i in bottom] + [None] * (n - len(bottom))
    titles = [train.synsets[first]] * n + [train.synsets[last]] * n
    return save_figure(image_grid(images, 2, n, titles), out)


def save_curves(results, out):
    """Validation (dashed) and test (solid) accuracy, and training (solid) and validation (dashed) loss, per
    epoch for every strategy, on shared axes. Two-stage runs get a dotted line where stage 2 begins."""
    fig = Figure(figsize=(11, 4))
    acc_ax, loss_ax = fig.subplots(1, 2)
    for i, row in enumerate(r for r in results["strategies"] if r["history"]):
        color = "C{}".format(i % 10)
        history = row["history"]
        epochs = [h["epoch"] for h in history]
        acc_ax.plot(epochs, [h["test_acc"] for h in history], "o-", color=color, label=row["name"] + " test")
        loss_ax.plot(epochs, [h["train_loss"] for h in history], "o-", color=color, label=row["name"] + " train")
        if all("val_acc" in h for h in history):
            acc_ax.plot(epochs, [h["val_acc"] for h in history], "s--", color=color, alpha=0.7,
                        label=row["name"] + " validation")
            loss_ax.plot(epochs, [h["val_loss"] for h in history], "s--", color=color, alpha=0.7,
                         label=row["name"] + " validation")
        if row.get("stage2_epoch"):
            for ax in (acc_ax, loss_ax):
                ax.axvline(row["stage2_epoch"] - 0.5, color=color, linestyle=":", alpha=0.8)
            acc_ax.annotate("{}: stage 2".format(row["name"]), (row["stage2_epoch"] - 0.5, acc_ax.get_ylim()[0]),
                            fontsize=7, color=color, rotation=90, va="bottom")
    acc_ax.set(title="accuracy (solid: test, dashed: validation)", xlabel="epoch", ylabel="accuracy")
    loss_ax.set(title="loss (solid: training, dashed: validation)", xlabel="epoch", ylabel="loss")
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if results.get("synthetic"):
        fig.suptitle("synthetic data and synthetic pretraining (offline demo)", fontsize=9, y=1.03)
    return save_figure(fig, out)
