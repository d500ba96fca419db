"""What a comparison writes: the table (terminal or Markdown), results.json, results.md and the pictures."""
import logging
import os

from .._io import atomic_write_bytes, atomic_write_json
from ..errors import HotdogError
from .plots import save_curves, save_data_samples

log = logging.getLogger(__name__)

TABLE_COLUMNS = (("strategy", "name", "{}"), ("final acc", "final_test_acc", "{:.4f}"),
                 ("best acc", "best_test_acc", "{:.4f}"), ("final loss", "final_train_loss", "{:.4f}"),
                 ("time (s)", "total_seconds", "{:.1f}"), ("train img/s", "train_images_per_sec", "{:.1f}"))


def format_table(results, markdown=False):
    """The results table, aligned for a terminal or as Markdown."""
    header = [title for title, _, _ in TABLE_COLUMNS] + ["status"]
    lines = []
    for row in results["strategies"]:
        if row["status"] == "ok":
            cells = [fmt.format(row[key]) for _, key, fmt in TABLE_COLUMNS] + ["ok"]
        else:
            cells = [row["name"]] + ["-"] * (len(TABLE_COLUMNS) - 1) + ["failed: " + row["error"]]
        lines.append(cells)
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in [header] + lines)


def _markdown_report(results):
    settings = results["settings"]
    parts = ["# Fine-tuning vs training from scratch", ""]
    if results["synthetic"]:
        parts += ["> **Synthetic run.** The images are generated drawings and the pretrained weights come from a "
                  "synthetic source task, not ImageNet. It shows the method working; its numbers say nothing "
                  "about real hotdogs.", ""]
    parts += [format_table(results, markdown=True), "",
              "Model {model}, {epochs} epochs, batch {batch_size}, image size {image_size}, weight decay {wd}, "
              "optimizer {optimizer}, seed {seed}; data: `{data_dir}`.".format(**settings),
              "Devices: {}. Created {} by hotdog {}.".format(", ".join(results["devices"]), results["created"],
                                                          results["hotdog_version"])]
    if results.get("pretrained"):
        parts.append("Pretrained weights: {}.".format(results["pretrained"]))
    parts += ["", "Learning curves: `curves.png`; the data: `samples.png`; everything: `results.json`.", ""]
    return "\n".join(parts)


def write_results(results, out_dir, data_dir, exclude=()):
    """results.json, results.md, curves.png and samples.png in ``out_dir`` (``exclude``: images left out)."""
    atomic_write_json(os.path.join(out_dir, "results.json"), results)
    atomic_write_bytes(os.path.join(out_dir, "results.md"), _markdown_report(results).encode("utf-8"))
    save_curves(results, os.path.join(out_dir, "curves.png"))
    try:
        save_data_samples(data_dir, os.path.join(out_dir, "samples.png"), exclude=exclude)
    except HotdogError as exc:  # the results are worth having even if the data can no longer be read
        log.warning("samples.png not written: %s", exc)

