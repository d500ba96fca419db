"""What a comparison writes: the table (terminal or Markdown), results.json, results.md and the pictures."""
import logging
import os

from .._io import atomic_write_bytes, atomic_write_json
from ..errors import HotdogError
from .attention import save_attention_grid
from .plots import save_curves, save_data_samples

log = logging.getLogger(__name__)

def _cells(row, first, several_seeds):
    """One strategy's cells: what a reader needs to judge the difference, not only the number."""
    low, high = row["final_test_ci"] or (float("nan"), float("nan"))
    vs = row.get("vs_first")
    cells = [row["name"], "{:.4f}".format(row["final_test_acc"]), "{:.3f}-{:.3f}".format(low, high),
             "{:.4f} (epoch {})".format(row["test_acc_at_best_val"], row["best_val_epoch"]),
             "p = {:.3g}{}".format(vs["p_value"], "" if vs["significant"] else ", not significant") if vs else
             ("-" if row["name"] == first else "n/a")]
    if several_seeds:
        cells.append("{:.4f} ± {}".format(row["mean_test_acc"], "{:.4f}".format(row["sd_test_acc"])
                                          if row["sd_test_acc"] is not None else "-"))
    return cells + ["{:.1f}".format(row["total_seconds"]), "{:.1f}".format(row["train_images_per_sec"]), "ok"]


def format_table(results, markdown=False):
    """The results table, aligned for a terminal or as Markdown, then one line per paired comparison that
    says in words whether the difference could be noise."""
    rows = results["strategies"]
    first = rows[0]["name"] if rows else ""
    several_seeds = len(results.get("seeds") or []) > 1
    header = ["strategy", "test acc", "95% interval", "test acc at best val epoch", "vs {}".format(first)]
    header += ["mean ± sd over {} seeds".format(len(results["seeds"]))] if several_seeds else []
    header += ["time (s)", "train img/s", "status"]
    lines = []
    for row in rows:
        if row["status"] == "ok":
            lines.append(_cells(row, first, several_seeds))
        else:
            lines.append([row["name"]] + ["-"] * (len(header) - 2) + ["failed: " + row["error"]])
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
    else:
        widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)]
        out = ["  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in [header] + lines]
    out += [""] + [_difference_line(row) for row in rows if row.get("vs_first")]
    return "\n".join(out).rstrip()


def _difference_line(row):
    vs = row["vs_first"]
    return ("{} vs {}: of the same test images, {} were right only with {} and {} only with {}; exact McNemar "
            "p = {:.3g}: {}.".format(row["name"], vs["against"], vs["only_this"], row["name"], vs["only_first"],
                                     vs["against"], vs["p_value"], vs["words"]))


def _markdown_report(results):
    settings = results["settings"]
    parts = ["# Fine-tuning vs training from scratch", ""]
    if results["synthetic"]:
        parts += ["> **Synthetic run.** The images are generated drawings and the pretrained weights come from a "
                  "synthetic source task, not ImageNet. It shows the method working; its numbers say nothing "
                  "about real hotdogs.", ""]
    split = results.get("split") or {}
    parts += [format_table(results, markdown=True), "",
              "Test accuracy: the final model's, with a 95% Wilson interval. The best epoch is the one with the "
              "lowest validation loss ({}); the test set chose nothing.".format(split.get("validation", "validation split")),
              "",
              "Model {model}, {epochs} epochs, batch {batch_size}, image size {image_size}, weight decay {wd}, "
              "optimizer {optimizer}, class weight {class_weight}; data: `{data_dir}`.".format(**settings),
              "Seeds: {}. Images per class: {}.".format(", ".join(str(seed) for seed in results.get("seeds", [])), "; ".join(
                  "{} {}".format(name, ", ".join("{} {}".format(c, n) for c, n in counts.items()))
                  for name, counts in (split.get("counts") or {}).items())),
              "Devices: {}. Created {} by hotdog {}.".format(", ".join(results["devices"]), results["created"],
                                                          results["hotdog_version"])]
    if results.get("pretrained"):
        parts.append("Pretrained weights: {}.".format(results["pretrained"]))
    parts += ["", "Learning curves: `curves.png`; the data: `samples.png`; where each net looked: `attention.png`; "
              "everything: `results.json`.", ""]
    return "\n".join(parts)


def write_results(results, out_dir, data_dir, exclude=(), contexts=None):
    """results.json, results.md, curves.png, samples.png and attention.png (Grad-CAM of every strategy on the
    same test images, with ``contexts``) in ``out_dir`` (``exclude``: images left out)."""
    atomic_write_json(os.path.join(out_dir, "results.json"), results)
    atomic_write_bytes(os.path.join(out_dir, "results.md"), _markdown_report(results).encode("utf-8"))
    save_curves(results, os.path.join(out_dir, "curves.png"))
    try:
        save_data_samples(data_dir, os.path.join(out_dir, "samples.png"), exclude=exclude)
    except HotdogError as exc:  # the results are worth having even if the data can no longer be read
        log.warning("samples.png not written: %s", exc)
    if contexts:
        try:
            save_attention_grid(results, out_dir, data_dir, contexts, exclude)
        except HotdogError as exc:  # e.g. a backbone without a spatial feature map
            log.warning("attention.png not written: %s", exc)

