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
from dataclasses import replace

from .._io import atomic_write_bytes
from .._version import __version__
from ..data.check import require_usable
from ..data.folders import dataset_root
from ..errors import ConfigError
from ..models.strategies import parse_strategy
from ..train.config import default_lr
from ..train.recipes import run_strategy
from .report import format_table, write_results

log = logging.getLogger(__name__)

SCHEMA = "hotdog.compare/1"
DEFAULT_STRATEGIES = ("finetune", "scratch")
# Settings that differ per strategy, so they are not listed under "settings".
PER_STRATEGY = ("strategy", "lr")


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

    ``lr_overrides``: {strategy: learning rate}; the others get the chapter's (``config.default_lr``).
    ``pretrained``: the pretrained net, or a function that returns it (see ``train.loop.train``).
    A strategy that fails is reported (status "failed") and the others still run and are written.
    """
    lr_overrides = dict(lr_overrides or {})
    unknown = set(lr_overrides) - set(strategies)
    if unknown:
        raise ConfigError("lr_overrides", "names strategies that are not being compared: {}".format(
            ", ".join(sorted(unknown))))
    # Every strategy parsed, and the images checked, before any training: a typo or a broken file fails
    # now, not after hours (and not once per strategy).
    specs = {name: parse_strategy(name, base_config.model) for name in strategies}
    skipped = require_usable(dataset_root(base_config.data_dir), base_config.image_size, base_config.skip_bad_images)
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for name in strategies:
        config = replace(base_config, strategy=name, lr=lr_overrides.get(name, default_lr(specs[name])))
        sub_dir = os.path.join(out_dir, folder_name(name))
        log.info("\n== %s (lr %g) ==", name, config.lr)
        tic = time.time()
        try:
            result = run_strategy(config, sub_dir, contexts, pretrained=pretrained, resume=resume, quiet=quiet,
                                  exclude=skipped)
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
        "settings": {k: v for k, v in base_config.to_dict().items() if k not in PER_STRATEGY},
        "strategies": rows,
    }
    write_results(results, out_dir, base_config.data_dir, skipped)
    log.info("\n%s", format_table(results))
    return results
