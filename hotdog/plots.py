"""Pictures: the chapter's 2x8 data grid (and, later, learning curves). Agg backend: no display needed."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from .data import load_split  # noqa: E402
from .layout import CLASSES, HOTDOG_LABEL, NOT_HOTDOG_LABEL  # noqa: E402


def save_figure(fig, out):
    """Write ``fig`` to ``out`` atomically (temp file, then rename) and close it."""
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    root, ext = os.path.splitext(out)
    tmp = "{}.tmp{}".format(root, ext or ".png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, out)
    return out


def image_grid(images, rows, cols, titles=None, scale=1.5):
    """A figure with ``images`` (HxWx3 uint8 arrays) in a ``rows`` x ``cols`` grid."""
    fig, axes = plt.subplots(rows, cols, figsize=(cols * scale, rows * scale), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images) and images[i] is not None:
            ax.imshow(images[i])
            if titles:
                ax.set_title(titles[i], fontsize=8)
    return fig


def save_data_samples(data_dir, out, n=8):
    """The chapter's picture: the first ``n`` hotdog and the last ``n`` not-hotdog training images."""
    train = load_split(data_dir, "train")
    labels = [label for _, label in train.items]
    hotdogs = [i for i, label in enumerate(labels) if label == HOTDOG_LABEL][:n]
    not_hotdogs = [i for i, label in enumerate(labels) if label == NOT_HOTDOG_LABEL][::-1][:n]
    # Chosen by label, not by position, so a small folder never shows a not-hotdog under "hotdog".
    images = [train[i][0].asnumpy() for i in hotdogs] + [None] * (n - len(hotdogs))
    images += [train[i][0].asnumpy() for i in not_hotdogs] + [None] * (n - len(not_hotdogs))
    titles = [CLASSES[HOTDOG_LABEL]] * n + [CLASSES[NOT_HOTDOG_LABEL]] * n
    return save_figure(image_grid(images, 2, n, titles), out)
