"""The chapter's main result: several strategies trained side by side, as a table, JSON and plots.

``OUT/results.json`` (schema ``hotdog.compare/1``)::

    {
      "schema": "hotdog.compare/1",
      "created": "2026-11-22T05:40:00Z",      # UTC
      "hotdog_version": "0.1.0",
      "synthetic": false,                      # true for the offline demo: synthetic data and weights
      "devices": ["gpu(0)", "gpu(1)"],
      "settings": {...},                       # the shared TrainConfig fields (model, epochs, batch_size...)
      "strategies": [
        {"name": "finetune", "status": "ok",    # or "failed", with "error": "one line"
         "lr": 0.01, "out_dir": "finetune",    # relative to OUT
         "final_test_acc": 0.94, "best_test_acc": 0.95, "best_epoch": 4, "final_train_loss": 0.21,
         "total_seconds": 812.3, "train_images_per_sec": 61.5,
         "stage2_epoch": null,                 # two-stage: the first epoch of stage 2
         "history": [{"epoch": 1, "stage": 1, "lr": ..., "train_loss": ..., "train_acc": ..., "test_loss": ...,
                      "test_acc": ..., "train_images": ..., "seconds": ..., "train_images_per_sec": ...}, ...]},
        ...
      ]
    }

``OUT/results.md`` is the same table in Markdown, ``OUT/curves.png`` the learning curves and
``OUT/samples.png`` the chapter's picture of the data.
"""
import datetime
import logging
import os
import time
import traceback
from dataclasses import asdict, replace

from . import __version__
from .checkpoint import atomic_write_bytes, atomic_write_json
from .errors import HotdogError
from .strategies import parse_strategy
from .training import PRETRAINED_LR, SCRATCH_LR, run_strategy

log = logging.getLogger(__name__)

SCHEMA = "hotdog.compare/1"
DEFAULT_STRATEGIES = ("finetune", "scratch")
# Settings that differ per strategy, so they are not listed under "settings".
PER_STRATEGY = ("strategy", "lr")
TABLE_COLUMNS = (("strategy", "name", "{}"), ("final acc", "final_test_acc", "{:.4f}"),
                 ("best acc", "best_test_acc", "{:.4f}"), ("final loss", "final_train_loss", "{:.4f}"),
                 ("time (s)", "total_seconds", "{:.1f}"), ("train img/s", "train_images_per_sec", "{:.1f}"))


def default_lr(strategy, model):
    return PRETRAINED_LR if parse_strategy(strategy, model).pretrained else SCRATCH_LR


def parse_lr_overrides(text):
    """'finetune=0.02,scratch=0.2' -> {'finetune': 0.02, 'scratch': 0.2}."""
    overrides = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise HotdogError("--lr takes STRATEGY=LR pairs separated by commas, e.g. finetune=0.02,scratch=0.2 "
                              "(got {!r})".format(item))
    return overrides


def folder_name(strategy):
    return strategy.replace(":", "-")


def _summarise(name, config, result, seconds):
    history = result["history"]
    # Throughput over the training passes only ("seconds" also holds each epoch's evaluation).
    images = sum(h["train_images"] for h in history)
    train_seconds = sum(h["train_images"] / h["train_images_per_sec"] for h in history)
    return {
        "name": name, "status": "ok", "error": None, "lr": config.lr, "out_dir": folder_name(name),
        "final_test_acc": history[-1]["test_acc"], "best_test_acc": max(h["test_acc"] for h in history),
        "best_epoch": max(history, key=lambda h: h["test_acc"])["epoch"],
        "final_train_loss": history[-1]["train_loss"], "total_seconds": seconds,
        "train_images_per_sec": images / train_seconds if train_seconds else float("nan"),
        "stage2_epoch": result.get("stage2_epoch"), "history": history,
    }


def compare(strategies, base_config, out_dir, contexts, pretrained=None, lr_overrides=None, quiet=False,
            resume=False, synthetic=False, pretrained_note=None):
    """Train each strategy into ``OUT/<strategy>`` and write the results; return the results dict.

    A strategy that fails is reported (status "failed") and the others still run and are written.
    """
    lr_overrides = dict(lr_overrides or {})
    unknown = set(lr_overrides) - set(strategies)
    if unknown:
        raise HotdogError("--lr names strategies that are not being compared: {}".format(", ".join(sorted(unknown))))
    for name in strategies:
        parse_strategy(name, base_config.model)  # fail fast on a typo, before hours of training
    os.makedirs(out_dir, exist_ok=True)
    say = (lambda *a: None) if quiet else print
    rows = []
    for name in strategies:
        config = replace(base_config, strategy=name, lr=lr_overrides.get(name, default_lr(name, base_config.model)))
        sub_dir = os.path.join(out_dir, folder_name(name))
        say("\n== {} (lr {:g}) ==".format(name, config.lr))
        tic = time.time()
        try:
            result = run_strategy(config, sub_dir, contexts, pretrained=pretrained, resume=resume, quiet=quiet)
            rows.append(_summarise(name, config, result, time.time() - tic))
        except Exception as exc:  # one strategy's failure must not lose the others' results
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            os.makedirs(sub_dir, exist_ok=True)
            atomic_write_bytes(os.path.join(sub_dir, "error.log"), traceback.format_exc().encode("utf-8"))
            log.error("%s failed: %s (details in %s)", name, message, os.path.join(sub_dir, "error.log"))
            rows.append({"name": name, "status": "failed", "error": message, "lr": config.lr,
                         "out_dir": folder_name(name), "history": []})
    results = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hotdog_version": __version__, "synthetic": synthetic, "pretrained": pretrained_note,
        "devices": [str(c) for c in contexts],
        "settings": {k: v for k, v in asdict(base_config).items() if k not in PER_STRATEGY},
        "strategies": rows,
    }
    write_results(results, out_dir, base_config.data_dir)
    say("\n" + format_table(results))
    return results


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


def write_results(results, out_dir, data_dir):
    from .plots import save_curves, save_data_samples  # matplotlib only when writing
    atomic_write_json(os.path.join(out_dir, "results.json"), results)
    atomic_write_bytes(os.path.join(out_dir, "results.md"), _markdown_report(results).encode("utf-8"))
    save_curves(results, os.path.join(out_dir, "curves.png"))
    try:
        save_data_samples(data_dir, os.path.join(out_dir, "samples.png"))
    except HotdogError as exc:  # the results are worth having even if the data can no longer be read
        log.warning("samples.png not written: %s", exc)

