"""The chapter's main result: several strategies trained side by side, as a table, JSON and plots, with
how sure each difference is.

Nothing here chooses on the test set: each strategy's best epoch is the one with the lowest validation
loss (``train.hooks.BestWeights``); the test set gives the reported figures only.

``OUT/results.json`` (schema ``hotdog.compare/2``; /1 had "best_test_acc" and "best_epoch", the maximum
over epochs of the *test* accuracy, which chose on the test set: they are gone)::

    {
      "schema": "hotdog.compare/2",
      "created": "2026-11-22T05:40:00Z",      # UTC
      "hotdog_version": "0.2.0",
      "synthetic": false,                      # true for the offline demo: synthetic data and weights
      "devices": ["gpu(0)", "gpu(1)"],
      "settings": {...},                       # the shared TrainConfig fields (model, epochs, val_fraction...)
      "seeds": [0],                            # every strategy ran once per seed
      "split": {"validation": "0.1 of train/", "val_fraction": 0.1, "seed": 0, "val_files": "3f2a9c1b04de",
                "counts": {"train": {"hotdog": 900, ...}, "val": {...}, "test": {...}}},   # the first seed's
      "strategies": [
        {"name": "finetune", "status": "ok",    # or "failed", with "error": "one line"
         "lr": 0.01, "out_dir": "finetune",    # relative to OUT (with several seeds: finetune/seed-N)
         "final_test_acc": 0.94, "final_test_ci": [0.92, 0.955],  # 95% Wilson interval, test_images images
         "test_images": 1000,
         "best_val_epoch": 4, "best_val_loss": 0.18, "test_acc_at_best_val": 0.935,
         "per_class_recall": {"hotdog": 0.95, "not-hotdog": 0.93},
         "confusion": [[380, 20], [28, 372]],  # the final model on the test set, rows: true class
         "vs_first": null,                     # the others: {"against": "finetune", "only_first": 31,
                                               #   "only_this": 9, "p_value": 0.0006, "significant": true}
         "seeds": [{"seed": 0, "final_test_acc": 0.94, "test_acc_at_best_val": 0.935, "out_dir": ...}],
         "mean_test_acc": 0.94, "sd_test_acc": null,   # over seeds (sd needs two)
         "final_train_loss": 0.21, "total_seconds": 812.3, "train_images_per_sec": 61.5,
         "stage2_epoch": null,                 # two-stage: the first epoch of stage 2
         "history": [{"epoch": 1, "stage": 1, "lr": ..., "train_loss": ..., "train_acc": ..., "val_loss": ...,
                      "val_acc": ..., "test_loss": ..., "test_acc": ..., "train_images": ..., "seconds": ...,
                      "train_images_per_sec": ...}, ...]},        # the first seed's
        ...
      ]
    }

The paired test (exact McNemar) compares each strategy's final model with the first strategy's on the same
test images, from the first seed's runs. ``OUT/results.md`` is the table in Markdown, ``OUT/curves.png``
the learning curves (validation and test), ``OUT/samples.png`` the chapter's picture of the data,
``OUT/attention.png`` the Grad-CAM grid, and ``OUT/report.html`` all of it on one self-contained page.
"""
import datetime
import logging
import math
import os
import time
import traceback
from dataclasses import replace

import numpy as np

from .._io import atomic_write_bytes
from .._version import __version__
from ..data.check import require_usable
from ..data.folders import dataset_root
from ..errors import ConfigError
from ..evaluate.stats import (
    describe_difference,
    mcnemar_exact,
    mean_sd,
    wilson_interval,
)
from ..models.strategies import parse_strategy
from ..train.config import default_lr
from ..train.recipes import run_strategy
from .report import format_table, write_results

log = logging.getLogger(__name__)

SCHEMA = "hotdog.compare/2"
DEFAULT_STRATEGIES = ("finetune", "scratch")
# Settings that differ per strategy, so they are not listed under "settings".
PER_STRATEGY = ("strategy", "lr", "seed")


def folder_name(strategy):
    return strategy.replace(":", "-")


def _run_summary(seed, config, result, seconds, out_dir):
    history, best = result["history"], result["best"]
    predicted, labels = np.array(result["test_predicted"]), np.array(result["test_labels"])
    correct = predicted == labels
    # Throughput over the training passes only ("seconds" also holds each epoch's evaluation).
    images = sum(h["train_images"] for h in history)
    train_seconds = sum(h["train_images"] / h["train_images_per_sec"] for h in history)
    return {
        "seed": seed, "out_dir": out_dir, "lr": config.lr, "history": history, "correct": correct,
        "split": result["split"], "final_test_acc": float(correct.mean()) if len(correct) else float("nan"),
        "final_test_ci": list(wilson_interval(int(correct.sum()), len(correct))) if len(correct) else None,
        "test_images": int(len(correct)),
        "best_val_epoch": best["epoch"], "best_val_loss": best["val_loss"], "test_acc_at_best_val": best["test_acc"],
        "per_class_recall": {cls: float(correct[labels == i].mean()) if (labels == i).any() else None
                             for i, cls in enumerate(result["classes"])},
        "confusion": [[int(((labels == t) & (predicted == p)).sum()) for p in range(len(result["classes"]))]
                      for t in range(len(result["classes"]))],
        "final_train_loss": history[-1]["train_loss"], "total_seconds": seconds,
        "train_images_per_sec": images / train_seconds if train_seconds else float("nan"),
        "stage2_epoch": result.get("stage2_epoch"),
    }


def _strategy_row(name, runs):
    """A strategy's row: its first seed's figures, and the spread over every seed."""
    first = runs[0]
    row = {key: first[key] for key in ("lr", "out_dir", "final_test_acc", "final_test_ci", "test_images",
                                       "best_val_epoch", "best_val_loss", "test_acc_at_best_val", "per_class_recall",
                                       "confusion",
                                       "final_train_loss", "total_seconds", "train_images_per_sec", "stage2_epoch",
                                       "history")}
    mean, sd = mean_sd([run["final_test_acc"] for run in runs])
    row.update(name=name, status="ok", error=None, vs_first=None, mean_test_acc=mean,
               sd_test_acc=None if math.isnan(sd) else sd,
               seeds=[{key: run[key] for key in ("seed", "final_test_acc", "test_acc_at_best_val", "out_dir")}
                      for run in runs])
    row["total_seconds"] = sum(run["total_seconds"] for run in runs)
    return row


def _paired_tests(rows, correct):
    """Each strategy against the first (finetune vs scratch by default), on the same test images."""
    first = rows[0]
    if first["status"] != "ok":
        return
    for row in rows[1:]:
        if row["status"] != "ok" or len(correct[row["name"]]) != len(correct[first["name"]]):
            continue
        test = mcnemar_exact(correct[first["name"]], correct[row["name"]])
        row["vs_first"] = {"against": first["name"], "only_first": test["a_only"], "only_this": test["b_only"],
                           "p_value": test["p_value"], "significant": test["p_value"] < 0.05,
                           "words": describe_difference(test["p_value"])}


def compare(strategies, base_config, out_dir, contexts, pretrained=None, lr_overrides=None, quiet=False,
            resume=False, synthetic=False, pretrained_note=None, seeds=None):
    """Train each strategy into ``OUT/<strategy>`` and write the results; return the results dict.

    ``lr_overrides``: {strategy: learning rate}; the others get the chapter's (``config.default_lr``).
    ``pretrained``: the pretrained net, or a function that returns it (see ``train.loop.train``).
    ``seeds``: run every strategy once per seed (default: the config's seed); the table then shows the
    mean and standard deviation of the final test accuracy over the seeds.
    A strategy that fails is reported (status "failed") and the others still run and are written.
    """
    lr_overrides = dict(lr_overrides or {})
    unknown = set(lr_overrides) - set(strategies)
    if unknown:
        raise ConfigError("lr_overrides", "names strategies that are not being compared: {}".format(
            ", ".join(sorted(unknown))))
    seeds = list(seeds) if seeds else [base_config.seed]
    if not all(isinstance(seed, int) and seed >= 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError("seeds", "must be different whole numbers of 0 or more (got {})".format(seeds))
    # Every strategy parsed, and the images checked, before any training: a typo or a broken file fails
    # now, not after hours (and not once per strategy).
    specs = {name: parse_strategy(name, base_config.model) for name in strategies}
    skipped = require_usable(dataset_root(base_config.data_dir), base_config.image_size, base_config.skip_bad_images)
    os.makedirs(out_dir, exist_ok=True)
    rows, correct, split = [], {}, None
    for name in strategies:
        runs = []
        for seed in seeds:
            config = replace(base_config, strategy=name, seed=seed, lr=lr_overrides.get(name, default_lr(specs[name])))
            relative = folder_name(name) if len(seeds) == 1 else os.path.join(folder_name(name), "seed-{}".format(seed))
            sub_dir = os.path.join(out_dir, relative)
            log.info("\n== %s (lr %g%s) ==", name, config.lr, ", seed {}".format(seed) if len(seeds) > 1 else "")
            tic = time.time()
            try:
                result = run_strategy(config, sub_dir, contexts, pretrained=pretrained, resume=resume, quiet=quiet,
                                      exclude=skipped)
            except Exception as exc:  # one strategy's failure must not lose the others' results
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                os.makedirs(sub_dir, exist_ok=True)
                atomic_write_bytes(os.path.join(sub_dir, "error.log"), traceback.format_exc().encode("utf-8"))
                log.error("%s failed: %s (details in %s)", name, message, os.path.join(sub_dir, "error.log"))
                rows.append({"name": name, "status": "failed", "error": message, "lr": config.lr,
                             "out_dir": relative, "history": []})
                break
            runs.append(_run_summary(seed, config, result, time.time() - tic, relative))
        else:
            rows.append(_strategy_row(name, runs))
            correct[name] = runs[0]["correct"]
            split = split or runs[0]["split"]
    _paired_tests(rows, correct)
    results = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hotdog_version": __version__, "synthetic": synthetic, "pretrained": pretrained_note,
        "devices": [str(c) for c in contexts],
        "settings": {k: v for k, v in base_config.to_dict().items() if k not in PER_STRATEGY},
        "seeds": seeds, "split": split,
        "strategies": rows,
    }
    write_results(results, out_dir, base_config.data_dir, skipped, contexts)
    log.info("\n%s", format_table(results))
    return results
