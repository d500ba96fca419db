"""`hotdog bench`: how close the real training loop gets to what the net can do on this machine.

Measured in one run, with the package's own code, for each image size:
  ceiling     train and eval images/s of the net on in-memory random batches (no data pipeline at all)
  pipeline    images/s of the input pipeline alone (decode or cache read, augmentation, batching)
  end-to-end  train and eval images/s of the real loop (train_pass / evaluate_loss_acc) on a dataset,
              for each variant (uncached or decode-once cache, data-loader workers)
  memory      peak resident memory of this process (and of its worker processes)
Every end-to-end figure is reported as a ratio of the ceiling measured in the same run, because the
absolute numbers move with the machine and its load.
"""
import logging
import os
import resource
import tempfile
import time

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon.model_zoo.vision import get_model

from .. import _mx
from ..data.check import require_usable
from ..data.folders import dataset_root
from ..data.pipeline import load_datasets, make_loader
from ..models.backbones import get_backbone
from ..models.surgery import infer_shapes
from ..train.config import TrainConfig
from ..train.loop import train
from ..train.optim import make_trainer
from ..train.step import evaluate_loss_acc, train_pass, train_step

log = logging.getLogger(__name__)


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


def ceiling(model, image_size, batch_size, contexts, min_seconds=8.0):
    """(train, eval) images/s on in-memory random batches."""
    net = _net(model, contexts)
    trainer = make_trainer(net, TrainConfig(strategy="scratch", lr=0.01), contexts, iters_per_epoch=1)
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


def end_to_end(model, loaders, contexts, seed=0):
    """(train, eval) images/s of one real epoch and one real evaluation pass."""
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
    return train_rate, len(_mx.loader_dataset(test_loader)) / (time.time() - tic)


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


def peak_memory_mb():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024.0, children / 1024.0  # Linux reports KiB


def run_bench(data_dir=None, sizes=(224, 64), batch_size=64, model="resnet18_v2", variants=None,
              n_train=200, n_test=80, contexts=None, say=None, min_seconds=8.0, skip_bad_images=False):
    """Measure everything; return a list of result rows (dicts). ``variants``: (cache, workers) pairs.
    ``say(line)`` gets each measurement as it is made (default: the ``hotdog`` logger)."""
    say = say or log.info
    exclude = []
    if data_dir is not None:  # a user's folder: checked like training checks it (refuse, or leave bad files out)
        exclude = require_usable(dataset_root(data_dir), min(sizes), skip_bad_images)
    contexts = contexts or [mx.cpu()]
    variants = variants or [(False, 0), (True, 0), (True, 2)]
    tmp = None
    if data_dir is None:
        from ..data.synthetic import make_synthetic_hotdog
        tmp = tempfile.TemporaryDirectory(prefix="hotdog-bench-")
        data_dir = tmp.name
        say("generating a synthetic dataset: {} train / {} test images per class (150-500 px PNGs)".format(
            n_train, n_test))
        make_synthetic_hotdog(os.path.join(data_dir, "hotdog"), n_train, n_test, seed=0)
    say("threads: OMP_NUM_THREADS={}, cores: {}, contexts: {}".format(
        os.environ.get("OMP_NUM_THREADS"), os.cpu_count(), ", ".join(str(c) for c in contexts)))
    rows = []
    try:
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
                train_rate, eval_rate = end_to_end(model, loaders, contexts)
                rows.append({"size": size, "what": "end-to-end: " + label, "train": train_rate, "eval": eval_rate,
                             "train_ratio": train_rate / train_ceiling, "eval_ratio": eval_rate / eval_ceiling})
                say(_format_row(rows[-1], train_ceiling, eval_ceiling))
            frozen, cached = cached_vs_frozen(model, data_dir, size, batch_size, contexts, exclude)
            rows.append({"size": size, "what": "epochs: cached features vs frozen (augmented)", "frozen": frozen,
                         "cached": cached, "speedup": cached / frozen})
            say("{:>4} px  a cached epoch trains {:.0f} img/s, a frozen one {:.1f} img/s: {:.0f}x faster".format(
                size, cached, frozen, cached / frozen))
    finally:
        if tmp is not None:
            tmp.cleanup()
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
    ceilings, speedups = {}, []
    for row in rows:
        if "speedup" in row:
            speedups.append(row)
            continue
        if "size" not in row:
            continue
        if row["what"].startswith("ceiling"):
            ceilings[row["size"]] = (row["train"], row["eval"])
        train_c, eval_c = ceilings[row["size"]]
        lines.append("| {} | {} | {:.1f} | {:.2f} | {:.1f} | {:.2f} |".format(
            row["size"], row["what"], row["train"], row["train"] / train_c, row["eval"], row["eval"] / eval_c))
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
