"""`hotdog interpret`'s folder: the confusion matrix and the top losses as pictures, the most-confused pairs
and every figure in interpret.json, and suspect_labels.csv for cleaning one's own folders. Written whole
(a temporary folder renamed into place) or not at all."""
import csv
import io
import os

from matplotlib.figure import Figure

from .._io import atomic_write_bytes, atomic_write_json, building
from ..data.images import decode_image
from ..models.export import preprocess_image
from .plots import image_grid, save_figure


def confusion_figure(classes, confusion):
    fig = Figure(figsize=(1.2 * len(classes) + 2.5, 1.1 * len(classes) + 2))
    ax = fig.subplots()
    ax.imshow(confusion, cmap="Blues")
    peak = max(max(row) for row in confusion) or 1
    for t, row in enumerate(confusion):
        for p, count in enumerate(row):
            ax.text(p, t, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xticklabels=classes, yticklabels=classes,
           xlabel="predicted", ylabel="true", title="confusion matrix")
    ax.tick_params(axis="x", labelrotation=45)
    return fig


def top_losses_figure(top_losses, image_size, columns=4):
    """The worst images as the net saw them (resized and centre-cropped), with what it said."""
    images = [preprocess_image(decode_image(item["path"]), image_size) for item in top_losses]
    titles = ["{}\n{} -> {} {:.2f}\nloss {:.2f}".format(os.path.basename(item["path"]), item["true"],
                                                        item["predicted"], item["probability"], item["loss"])
              for item in top_losses]
    return image_grid(images, max(1, -(-len(images) // columns)), columns, titles, scale=2.2)


def write_interpretation(result, out_dir, image_size, overwrite=True):
    """confusion.png, top_losses.png, suspect_labels.csv and interpret.json into ``out_dir``; returns it."""
    with building(out_dir, replace=overwrite) as build:
        save_figure(confusion_figure(result["classes"], result["confusion"]), os.path.join(build.path, "confusion.png"))
        if result["top_losses"]:
            save_figure(top_losses_figure(result["top_losses"], image_size), os.path.join(build.path, "top_losses.png"))
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(["path", "label", "predicted", "probability"])
        writer.writerows([[s["path"], s["label"], s["predicted"], "{:.4f}".format(s["probability"])]
                          for s in result["suspects"]])
        atomic_write_bytes(os.path.join(build.path, "suspect_labels.csv"), table.getvalue().encode("utf-8"))
        atomic_write_json(os.path.join(build.path, "interpret.json"), result)
    return out_dir
