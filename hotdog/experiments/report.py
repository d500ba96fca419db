"""What a comparison writes: the table (terminal or Markdown), results.json, results.md and the pictures."""
import base64
import html
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
              "everything on one page: `report.html`; every figure: `results.json`.", ""]
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
    atomic_write_bytes(os.path.join(out_dir, "report.html"), html_report(results, out_dir).encode("utf-8"))



def _embedded(path):
    """A PNG as a data: URL, so that report.html is one file that can be mailed or opened anywhere."""
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def _confusion_html(classes, confusion):
    head = "<tr><th>true \\ predicted</th>" + "".join("<th>{}</th>".format(html.escape(c)) for c in classes) + "</tr>"
    rows = "".join("<tr><th>{}</th>{}</tr>".format(html.escape(cls), "".join(
        '<td class="{}">{}</td>'.format("hit" if t == p else "miss" if count else "", count)
        for p, count in enumerate(row))) for t, (cls, row) in enumerate(zip(classes, confusion)))
    return '<table class="confusion">{}{}</table>'.format(head, rows)


def html_report(results, out_dir):
    """report.html: the table, what the numbers mean, the curves, the data, the attention grid and every
    strategy's confusion matrix, with every picture embedded (no file or network needed to view it)."""
    classes = list((results.get("split") or {}).get("counts", {}).get("test", {})) or None
    figures = [(name, caption) for name, caption in (
        ("curves.png", "Learning curves: accuracy (solid: test, dashed: validation) and loss per epoch."),
        ("attention.png", "Where each strategy's net looked (Grad-CAM, red counted most), on the same test images."),
        ("samples.png", "The data: the first hotdogs and the last not-hotdogs of the training split."))
        if os.path.exists(os.path.join(out_dir, name))]
    confusions = "".join("<section><h3>{}</h3>{}</section>".format(html.escape(row["name"]), _confusion_html(
        classes or [str(i) for i in range(len(row["confusion"]))], row["confusion"]))
        for row in results["strategies"] if row["status"] == "ok" and row.get("confusion"))
    table = format_table(results, markdown=True).split("\n\n")[0].splitlines()
    header, body = table[0], table[2:]

    def cells(line, tag):
        return "".join("<{0}>{1}</{0}>".format(tag, html.escape(c.strip())) for c in line.strip().strip("|").split("|"))
    lines = [_difference_line(row) for row in results["strategies"] if row.get("vs_first")]
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fine-tuning vs training from scratch</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.6rem; }}
th {{ background: #f4f4f4; }} .note {{ background: #fff7d6; padding: 0.6rem 1rem; border-radius: 6px; }}
.confusion td {{ text-align: right; }} .hit {{ background: #dcefdc; }} .miss {{ background: #f6dada; }}
.confusions {{ display: flex; flex-wrap: wrap; gap: 1.5rem; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 0.9rem; }}
</style></head><body>
<h1>Fine-tuning vs training from scratch</h1>
{synthetic}
<table><tr>{header}</tr>{body}</table>
<ul>{lines}</ul>
<p>Test accuracy: the final model's, with a 95% Wilson interval. The best epoch is the one with the lowest
validation loss; the test set chose nothing. Created {created} by hotdog {version} on {devices}.</p>
{figures}
<h2>Confusion matrices (test set, final models)</h2>
<div class="confusions">{confusions}</div>
</body></html>
""".format(
        synthetic='<p class="note"><b>Synthetic run.</b> Generated drawings and synthetic pretraining: it shows the '
                  'method working, not results on real hotdogs.</p>' if results.get("synthetic") else "",
        header=cells(header, "th"), body="".join("<tr>{}</tr>".format(cells(line, "td")) for line in body),
        lines="".join("<li>{}</li>".format(html.escape(line)) for line in lines),
        created=html.escape(results["created"]), version=html.escape(results["hotdog_version"]),
        devices=html.escape(", ".join(results["devices"])),
        figures="".join('<figure><img src="{}" alt="{}"><figcaption>{}</figcaption></figure>'.format(
            _embedded(os.path.join(out_dir, name)), html.escape(name), html.escape(caption)) for name, caption in figures),
        confusions=confusions)
