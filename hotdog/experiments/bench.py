"""`hotdog bench`: how close the real training loop gets to what the net can do on this machine.

Measured in one run, with the package's own code, for each image size:
  ceiling     train and eval images/s of the net on in-memory random batches (no data pipeline at all)
  pipeline    images/s of the input pipeline alone (decode or cache read, augmentation, batching)
  end-to-end  train and eval images/s of the real loop (train_pass / evaluate_loss_acc) on a dataset,
              for each variant (uncached or decode-once cache, data-loader workers)
  small run   a 200-image folder trained for two epochs through ``train()`` (what a user's own small folder
              costs: the last, smaller batch, the evaluation after each epoch), the second epoch against
              ceilings measured just before each epoch
  predict     ``predict_images`` on the test files (decoding included) against the eval ceiling
  memory      peak resident memory of this process (and of its worker processes)
``demo_phases`` (``hotdog bench --demo``) times the offline demo from an empty cache, phase by phase.
Every end-to-end figure is reported as a ratio of the ceiling measured in the same run, because the
absolute numbers move with the machine and its load.
"""
import contextlib
import gc
import json
import logging
import os
import resource
import tempfile
import time

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon.model_zoo.vision import get_model

from ..data.check import require_usable
from ..data.folders import dataset_root
from ..data.pipeline import load_datasets, make_loader
from ..data.synthetic import make_synthetic_hotdog
from ..models.backbones import get_backbone
from ..models.surgery import infer_shapes
from ..train.config import TrainConfig
from ..train.hooks import Hook
from ..train.loop import default_hooks, train
from ..train.optim import make_trainer
from .demo import pretrain_config, pretrain_on_source, run_demo, source_run_dir, target_dir
from ..train.step import evaluate_loss_acc, train_pass, train_step

log = logging.getLogger(__name__)

SMALL_FOLDER = 200  # training images of the small-run row: a user's own folder is often this small


def _net(model, contexts, seed=0):
    mx.random.seed(seed)
    net = get_model(get_backbone(model).zoo_name, classes=2)
    net.initialize(mx.init.Xavier(), ctx=contexts)
    net.hybridize(static_alloc=True)  # as the training loop does
    return net


def _timed(step, min_seconds, warmup=2):
    """Images/s of ``step()`` (which returns how many images it did) after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    mx.nd.waitall()
    images, tic = 0, time.time()
    while True:
        images += step()
        mx.nd.waitall()
        if time.time() - tic >= min_seconds:
            return images / (time.time() - tic)


def ceiling(model, image_size, batch_size, contexts, min_seconds=8.0, config=None):
    """(train, eval) images/s on in-memory random batches. ``config``: the training settings whose optimizer
    the train steps use (default: plain SGD, the chapter's); its other settings are not read."""
    try:
        return _ceiling_rates(model, image_size, batch_size, contexts, min_seconds, config)
    finally:
        # A Gluon net sits in reference cycles: without a collection now, each probe's net and its static
        # memory stay alive until Python's collector happens to run (four 224 px probes in a row held
        # 2.5 GiB resident, 0.8-1.0 GiB with it).
        gc.collect()


def _ceiling_rates(model, image_size, batch_size, contexts, min_seconds, config):
    net = _net(model, contexts)
    config = config or TrainConfig(strategy="scratch", lr=0.01)
    trainer = make_trainer(net, config, contexts, iters_per_epoch=1)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    x = mx.nd.random.uniform(shape=(batch_size, 3, image_size, image_size))
    y = mx.nd.array([i % 2 for i in range(batch_size)])

    def train_batch():
        train_step(net, trainer, loss_fn, x, y, contexts)
        return batch_size

    def eval_batch():
        for xs in gluon.utils.split_and_load(x, contexts, even_split=False):
            net(xs)
        return batch_size

    return _timed(train_batch, min_seconds), _timed(eval_batch, min_seconds / 2)


def pipeline(loader):
    """Images/s of iterating ``loader`` with every batch materialised."""
    images, tic = 0, time.time()
    for x, _ in loader:
        x.wait_to_read()
        images += x.shape[0]
    return images / (time.time() - tic)


def end_to_end(model, loaders, contexts, n_eval, seed=0):
    """(train, eval) images/s of one real epoch and one real evaluation pass of ``n_eval`` images."""
    train_loader, test_loader = loaders
    net = _net(model, contexts, seed)
    trainer = make_trainer(net, TrainConfig(strategy="scratch", lr=0.01), contexts, len(train_loader))
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    # One warm-up batch so that graph building is not timed (it is not in the ceiling either).
    x, y = next(iter(train_loader))
    train_step(net, trainer, loss_fn, x, y, contexts)
    mx.nd.waitall()
    tic = time.time()
    _, _, n = train_pass(net, trainer, train_loader, contexts, loss_fn)
    mx.nd.waitall()
    train_rate = n / (time.time() - tic)
    evaluate_loss_acc(net, [next(iter(test_loader))], contexts, loss_fn)  # build the inference graph untimed
    mx.nd.waitall()
    tic = time.time()
    evaluate_loss_acc(net, test_loader, contexts, loss_fn)
    return train_rate, n_eval / (time.time() - tic)


def cached_vs_frozen(model, data_dir, image_size, batch_size, contexts, exclude=()):
    """Training images/s of a `frozen` epoch (augmented, backbone run every epoch) and a `cached` epoch
    (features computed once), both through the real `train()`. The first epoch (graph building) is not
    counted; cached epochs take milliseconds, so the median of several is used."""
    source = get_model(get_backbone(model).zoo_name, classes=1000)  # random weights: speed only
    source.initialize(mx.init.Xavier(), ctx=contexts)
    infer_shapes(source, contexts)
    rates = {}
    with tempfile.TemporaryDirectory(prefix="hotdog-bench-") as out:
        for strategy, epochs in (("frozen", 2), ("cached", 8)):
            config = TrainConfig(strategy=strategy, data_dir=data_dir, epochs=epochs, batch_size=batch_size,
                                 image_size=image_size)
            result = train(config, os.path.join(out, strategy), contexts, pretrained=source, quiet=True,
                           exclude=exclude)
            rates[strategy] = float(np.median([h["train_images_per_sec"] for h in result["history"][1:]]))
    return rates["frozen"], rates["cached"]


class CeilingProbe(Hook):
    """Measures the ceiling (in-memory batches, untimed by the loop) before each epoch and after the last.

    This machine's speed wanders by tens of percent within minutes; an epoch compared with a ceiling taken
    right before and after it is compared with the machine as it was then.
    """

    def __init__(self, model, image_size, batch_size, contexts, min_seconds):
        self.measure = lambda: ceiling(model, image_size, batch_size, contexts, min_seconds)
        self.ceilings = []

    def on_epoch_begin(self, run):
        self.ceilings.append(self.measure())

    def on_train_end(self, run):
        self.ceilings.append(self.measure())

    def around(self, epoch):
        """(train, eval) ceiling around ``epoch`` (1-based): the mean of the probes before and after it."""
        before, after = self.ceilings[epoch - 1], self.ceilings[epoch]
        return (before[0] + after[0]) / 2, (before[1] + after[1]) / 2


def small_run(model, data_dir, image_size, batch_size, contexts, out_dir, min_seconds=4.0, epochs=2):
    """The last epoch of a short ``train()`` run (the default hooks, cache on) as a ratio of the ceiling
    around it: train images/s of its training pass, and the whole epoch (evaluation included) against the
    time its training and evaluation images would take at the ceiling."""
    probe = CeilingProbe(model, image_size, batch_size, contexts, min_seconds)
    config = TrainConfig(strategy="scratch", data_dir=data_dir, epochs=epochs, batch_size=batch_size,
                         image_size=image_size)
    result = train(config, out_dir, contexts, quiet=True, hooks=default_hooks(config, quiet=True) + [probe])
    last = result["history"][-1]
    train_ceiling, eval_ceiling = probe.around(last["epoch"])
    counts = result["split"]["counts"]
    evaluated = sum(counts["val"].values()) + sum(counts["test"].values())
    ideal = last["train_images"] / train_ceiling + evaluated / eval_ceiling
    return {"train": last["train_images_per_sec"], "train_ceiling": train_ceiling, "eval_ceiling": eval_ceiling,
            "train_ratio": last["train_images_per_sec"] / train_ceiling, "epoch_seconds": last["seconds"],
            "ideal_seconds": ideal, "epoch_ratio": ideal / last["seconds"], "train_images": last["train_images"],
            "eval_images": evaluated, "val_counts": list(counts["val"].values()), "ceilings": probe.ceilings}


def predict_rate(model_dir, data_dir, contexts, batch_size):
    """Images/s of ``predict_images`` (files decoded, batched, classified) on a dataset's test files."""
    from ..evaluate.inference import predict_images

    test_dir = os.path.join(dataset_root(data_dir), "test")
    predict_images([test_dir], model_dir, contexts, batch_size=min(batch_size, 8))  # warm-up (graph building)
    tic = time.time()
    results = predict_images([test_dir], model_dir, contexts, batch_size=batch_size)
    return len(results) / (time.time() - tic)


def demo_phases(settings, contexts, out_dir, min_seconds=4.0, say=print):
    """The offline demo from an empty cache (generation, source pretraining, comparison, pictures), timed
    whole and phase by phase against ceilings measured right before and after each phase with its batch
    size and optimizer. Returns {"phases": [...], "wall_seconds", "ideal_seconds", "ratio", "ceilings"}.

    A phase's rate is over all its epochs' training passes (graph building included). The ideal time is
    what its training images (every epoch) and evaluation images (validation and test, every epoch, and
    the final test pass) alone would take at the ceiling rates.
    """
    model, size = settings.model, settings.image_size
    pretrain = pretrain_config(settings, "")
    compare_config = TrainConfig(strategy="finetune", model=model)  # the comparison's optimizer (SGD)

    def probe():
        return {"pretrain": ceiling(model, size, settings.pretrain_batch_size, contexts, min_seconds, pretrain),
                "compare": ceiling(model, size, settings.batch_size, contexts, min_seconds, compare_config)}

    # This machine's speed can drift by tens of percent within minutes: each phase is compared with
    # ceilings measured right before and right after it.
    say("measuring the ceilings before the demo...")
    probes = [probe()]
    with tempfile.TemporaryDirectory(prefix="hotdog-bench-demo-") as root:
        tic = time.time()
        target_dir(settings, root)
        pretrain_on_source(settings, contexts, root, quiet=True)
        wall = time.time() - tic
        say("measuring the ceilings between the pretraining and the comparison...")
        probes.append(probe())
        tic = time.time()
        results = run_demo(out_dir, contexts, settings=settings, root=root, quiet=True)  # reuses the pretraining
        wall += time.time() - tic
        with open(os.path.join(source_run_dir(settings, root), "config.json")) as f:
            pretrain_split = json.load(f)["split"]
        with open(os.path.join(source_run_dir(settings, root), "history.json")) as f:
            pretrain_history = json.load(f)
    say("measuring the ceilings after the demo...")
    probes.append(probe())

    def around(key, first):
        return tuple((probes[first][key][i] + probes[first + 1][key][i]) / 2 for i in (0, 1))
    ceilings = {"pretrain": around("pretrain", 0), "compare": around("compare", 1)}

    phases = [_phase("source pretraining (batch {}, {})".format(settings.pretrain_batch_size, pretrain.optimizer),
                     pretrain_history, pretrain_split, ceilings["pretrain"])]
    for row in results["strategies"]:
        if row["status"] == "ok":
            phases.append(_phase("{} (batch {})".format(row["name"], settings.batch_size), row["history"],
                                 results["split"], ceilings["compare"]))
    ideal = sum(p["ideal_seconds"] for p in phases)
    return {"phases": phases, "wall_seconds": wall, "ideal_seconds": ideal, "ratio": wall / ideal,
            "ceilings": ceilings, "probes": probes, "image_size": size}


def _phase(name, history, split, ceilings):
    train_ceiling, eval_ceiling = ceilings
    images = sum(h["train_images"] for h in history)
    seconds = sum(h["train_images"] / h["train_images_per_sec"] for h in history)
    evaluated = (sum(split["counts"]["val"].values()) + sum(split["counts"]["test"].values())) * len(history) \
        + sum(split["counts"]["test"].values())
    return {"phase": name, "epochs": len(history), "train_images": images, "train_rate": images / seconds,
            "train_ceiling": train_ceiling, "train_ratio": images / seconds / train_ceiling,
            "eval_images": evaluated, "ideal_seconds": images / train_ceiling + evaluated / eval_ceiling,
            "seconds": sum(h["seconds"] for h in history)}


def demo_table(report):
    """The demo's phases as Markdown."""
    lines = ["| phase | epochs | train images | train img/s | ceiling img/s | of the ceiling |", "|---|---|---|---|---|---|"]
    for p in report["phases"]:
        lines.append("| {} | {} | {:,} | {:.1f} | {:.1f} | {:.2f} |".format(
            p["phase"], p["epochs"], p["train_images"], p["train_rate"], p["train_ceiling"], p["train_ratio"]))
    lines.append("")
    lines.append("The whole demo took {:.0f}s (wall); its training and evaluation images alone would take {:.0f}s at "
                 "the ceiling: {:.2f}x.".format(report["wall_seconds"], report["ideal_seconds"], report["ratio"]))
    return "\n".join(lines)


def peak_memory_mb():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024.0, children / 1024.0  # Linux reports KiB


def run_bench(data_dir=None, sizes=(224, 64), batch_size=64, model="resnet18_v2", variants=None,
              n_train=200, n_test=80, contexts=None, say=None, min_seconds=8.0, skip_bad_images=False,
              small_images=SMALL_FOLDER):
    """Measure everything; return a list of result rows (dicts). ``variants``: (cache, workers) pairs.
    ``small_images``: training images of the generated folder of the small-run row (half per class).
    ``say(line)`` gets each measurement as it is made (default: the ``hotdog`` logger)."""
    say = say or log.info
    exclude = []
    if data_dir is not None:  # a user's folder: checked like training checks it (refuse, or leave bad files out)
        exclude = require_usable(dataset_root(data_dir), min(sizes), skip_bad_images)
    contexts = contexts or [mx.cpu()]
    variants = variants or [(False, 0), (True, 0), (True, 2)]
    small_images = 2 * max(2, small_images // 2)  # what the folder will hold: the same number per class
    rows = []
    # Every generated folder is removed at the end, whether the benchmark finished, failed or was interrupted.
    with contextlib.ExitStack() as temporary:
        if data_dir is None:
            data_dir = temporary.enter_context(tempfile.TemporaryDirectory(prefix="hotdog-bench-"))
            say("generating a synthetic dataset: {} train / {} test images per class (150-500 px PNGs)".format(
                n_train, n_test))
            make_synthetic_hotdog(os.path.join(data_dir, "hotdog"), n_train, n_test, seed=0)
        small_dir = temporary.enter_context(tempfile.TemporaryDirectory(prefix="hotdog-bench-small-"))
        make_synthetic_hotdog(os.path.join(small_dir, "hotdog"), small_images // 2, max(1, n_test // 2), seed=1)
        say("threads: OMP_NUM_THREADS={}, cores: {}, contexts: {}".format(
            os.environ.get("OMP_NUM_THREADS"), os.cpu_count(), ", ".join(str(c) for c in contexts)))
        for size in sizes:
            train_ceiling, eval_ceiling = ceiling(model, size, batch_size, contexts, min_seconds)
            rows.append({"size": size, "what": "ceiling (in-memory batches)", "train": train_ceiling,
                         "eval": eval_ceiling})
            say(_format_row(rows[-1], train_ceiling, eval_ceiling))
            for cache, workers in variants:
                train_set, test_set = load_datasets(data_dir, size, cache=cache, quiet=True, exclude=exclude)
                loaders = (make_loader(train_set, batch_size, shuffle=True, num_workers=workers),
                           make_loader(test_set, batch_size, num_workers=workers))
                label = "{}, {} worker{}".format("decode-once cache" if cache else "decode every epoch",
                                                 workers, "" if workers == 1 else "s")
                rows.append({"size": size, "what": "pipeline alone: " + label, "train": pipeline(loaders[0]),
                             "eval": pipeline(loaders[1])})
                say(_format_row(rows[-1], train_ceiling, eval_ceiling))
                train_rate, eval_rate = end_to_end(model, loaders, contexts, len(test_set))
                rows.append({"size": size, "what": "end-to-end: " + label, "train": train_rate, "eval": eval_rate,
                             "train_ratio": train_rate / train_ceiling, "eval_ratio": eval_rate / eval_ceiling})
                say(_format_row(rows[-1], train_ceiling, eval_ceiling))
            small = small_run(model, small_dir, size, batch_size, contexts, os.path.join(small_dir, "run-{}".format(size)),
                              min_seconds=min_seconds / 2)
            rows.append(dict(small, size=size, what="{}-image folder, epoch 2 of 2 through train()".format(
                small_images)))
            say("{:>4} px  {}-image folder, epoch 2: train {:.1f} img/s ({:.2f} of the ceiling around it), the "
                "whole epoch {:.1f}s where its images alone take {:.1f}s at the ceiling ({:.2f})".format(
                    size, small_images, small["train"], small["train_ratio"], small["epoch_seconds"], small["ideal_seconds"],
                    small["epoch_ratio"]))
            # predict on the same test files, against an eval ceiling taken right before
            eval_now = ceiling(model, size, batch_size, contexts, min_seconds / 2)[1]
            rate = predict_rate(os.path.join(small_dir, "run-{}".format(size)), small_dir, contexts, batch_size)
            rows.append({"size": size, "what": "predict on files (decoding included)", "predict": rate,
                         "eval_ceiling": eval_now, "predict_ratio": rate / eval_now})
            say("{:>4} px  predict on {} image files: {:.1f} img/s ({:.2f} of the eval ceiling)".format(
                size, "the test", rate, rate / eval_now))
            frozen, cached = cached_vs_frozen(model, data_dir, size, batch_size, contexts, exclude)
            rows.append({"size": size, "what": "epochs: cached features vs frozen (augmented)", "frozen": frozen,
                         "cached": cached, "speedup": cached / frozen})
            say("{:>4} px  a cached epoch trains {:.0f} img/s, a frozen one {:.1f} img/s: {:.0f}x faster".format(
                size, cached, frozen, cached / frozen))
    own, children = peak_memory_mb()
    rows.append({"what": "peak resident memory (MiB)", "process": own, "workers": children})
    say("peak resident memory: {:.0f} MiB (largest worker process: {:.0f} MiB)".format(own, children))
    return rows


def _format_row(row, train_ceiling, eval_ceiling):
    return "{:>4} px  {:<52} train {:7.1f} img/s ({:4.2f} of ceiling)   eval {:7.1f} img/s ({:4.2f})".format(
        row["size"], row["what"], row["train"], row["train"] / train_ceiling, row["eval"], row["eval"] / eval_ceiling)


def markdown_table(rows):
    lines = ["| size | measurement | train img/s | train / ceiling | eval img/s | eval / ceiling |",
             "|---|---|---|---|---|---|"]
    ceilings, speedups, others = {}, [], []
    for row in rows:
        if "speedup" in row:
            speedups.append(row)
            continue
        if "epoch_ratio" in row or "predict_ratio" in row:
            others.append(row)
            continue
        if "size" not in row:
            continue
        if row["what"].startswith("ceiling"):
            ceilings[row["size"]] = (row["train"], row["eval"])
        train_c, eval_c = ceilings[row["size"]]
        lines.append("| {} | {} | {:.1f} | {:.2f} | {:.1f} | {:.2f} |".format(
            row["size"], row["what"], row["train"], row["train"] / train_c, row["eval"], row["eval"] / eval_c))
    if others:
        lines += ["", "| size | measurement | images/s | ratio | of what |", "|---|---|---|---|---|"]
    for row in others:
        if "epoch_ratio" in row:
            folder = "{}-image folder, epoch 2".format(row["train_images"] + sum(row["val_counts"]))
            lines.append("| {} | {}: training pass | {:.1f} | {:.2f} | the train ceiling measured around that epoch "
                         "|".format(row["size"], folder, row["train"], row["train_ratio"]))
            lines.append("| {} | {}: the whole epoch ({:.1f}s) | - | {:.2f} | its {} training and {} evaluation images "
                         "at the ceiling ({:.1f}s) |".format(row["size"], folder, row["epoch_seconds"], row["epoch_ratio"], row["train_images"],
                             row["eval_images"], row["ideal_seconds"]))
        else:
            lines.append("| {} | predict on image files (decoding included) | {:.1f} | {:.2f} | the eval ceiling "
                         "|".format(row["size"], row["predict"], row["predict_ratio"]))
    for row in speedups:
        lines.append("")
        lines.append("{} px: a `cached` epoch trains {:.0f} images/s, a `frozen` epoch with augmentation {:.1f}: "
                     "{:.0f}x faster.".format(row["size"], row["cached"], row["frozen"], row["speedup"]))
    memory = [r for r in rows if "process" in r]
    if memory:
        lines.append("")
        lines.append("Peak resident memory: {:.0f} MiB (largest worker process {:.0f} MiB).".format(
            memory[0]["process"], memory[0]["workers"]))
    return "\n".join(lines)
