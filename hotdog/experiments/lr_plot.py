"""What ``hotdog lr-find`` leaves behind: ``lr_find.json`` and ``lr_find.png`` (the smoothed loss against the
learning rate on a log axis, with the suggestion marked).

Drawn on a ``matplotlib.figure.Figure``, never through pyplot, like ``plots.py``; both files are written
atomically.
"""
import os

from matplotlib.figure import Figure

from .._io import atomic_write_json
from .plots import save_figure

JSON_NAME, PNG_NAME = "lr_find.json", "lr_find.png"


def save_lr_find(result, out_dir):
    """Write ``result`` (from ``train.lr_find.lr_find``) as OUT/lr_find.json and its plot as OUT/lr_find.png.
    Returns (json path, png path)."""
    os.makedirs(out_dir, exist_ok=True)
    json_path, png_path = os.path.join(out_dir, JSON_NAME), os.path.join(out_dir, PNG_NAME)
    atomic_write_json(json_path, result)
    save_figure(lr_find_figure(result), png_path)
    return json_path, png_path


def lr_find_figure(result):
    """The range test's curve: raw losses faint, the smoothed loss, the suggestion, the other reading and
    where the test stopped."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    lrs = result["lrs"]
    ax.plot(lrs, result["losses"], color="C0", alpha=0.25, linewidth=1, label="loss per batch")
    ax.plot(lrs, result["smoothed"], color="C0", linewidth=2, label="smoothed loss")
    suggested = result["suggested_lr"]
    if suggested is not None:
        ax.axvline(suggested, color="C2", linewidth=2,
                   label="suggested {:.3g} ({})".format(suggested, result["method"]))
    for method, lr in result["suggestions"].items():
        if lr is not None and method != result["method"]:
            ax.axvline(lr, color="C1", linestyle="--", label="{} {:.3g}".format(method, lr))
    if result["diverged_lr"] is not None:
        ax.axvline(result["diverged_lr"], color="C3", linestyle=":",
                   label="stopped at {:.3g} ({})".format(result["diverged_lr"], result["stop"]["reason"]))
    ax.set_xscale("log")
    # The blow-up at the end would squash the interesting part: show up to the divergence threshold.
    low = min(result["smoothed"])
    ax.set_ylim(min(result["losses"] + [low]) * 0.95, result["settings"]["divergence_factor"] * low * 1.05)
    ax.set(xlabel="learning rate (log scale; per-example mean loss)", ylabel="training loss",
           title="learning-rate range test: {} ({}), {} training images".format(
               result["strategy"], result["model"], result["train_images"]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
