"""The training loop: data-parallel over every context, metrics kept on the devices, per-epoch history,
atomic checkpoints, resume, learning-rate schedules, early stopping and a divergence stop.

One step: ``split_and_load`` the batch across the contexts, forward and backward on each, then
``trainer.step(batch_size)``: the kvstore sums the gradients of all contexts and the trainer divides by the
global batch size, so the update uses the mean gradient over the whole batch whatever the split.
"""
import logging
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from tqdm import tqdm

from . import __version__
from .checkpoint import (atomic_save, atomic_write_bytes, atomic_write_json, load_checkpoint_state, save_checkpoint,
                         write_history)
from .data import DEFAULT_IMAGE_SIZE, dataset_classes, load_datasets, make_loader
from .devices import describe
from .download import DEFAULT_DATA_DIR, show_progress
from .errors import HotdogError
from .layout import CLASSES
from .models import DEFAULT_BACKBONE
from .strategies import build_net, parse_strategy, trainable_params

log = logging.getLogger(__name__)

# The chapter: 0.01 when starting from pretrained weights, 0.1 from scratch.
PRETRAINED_LR, SCRATCH_LR = 0.01, 0.1
LR_SCHEDULES = ("constant", "step", "cosine")
# What a resumed run must share with the run it continues (the rest, e.g. --epochs, may change).
# (--lr may change too, for the constant schedule: the way out of a diverged run.)
RESUME_KEYS = ("strategy", "model", "batch_size", "wd", "momentum", "optimizer", "image_size", "seed",
               "lr_schedule", "lr_steps", "lr_factor", "warmup_epochs", "output_lr_mult", "imagenet_class",
               "augment")


METRIC_KEY = (1 << 20) - 1  # kvstore key for the training figures of a distributed run


class TrainingDiverged(HotdogError):
    """The loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved in config.json and the checkpoints."""
    strategy: str = "finetune"
    model: str = DEFAULT_BACKBONE
    data_dir: str = DEFAULT_DATA_DIR
    epochs: int = 5
    batch_size: int = 128
    lr: float = None  # None: PRETRAINED_LR or SCRATCH_LR by strategy
    wd: float = 0.001
    momentum: float = 0.0  # the chapter's SGD has none
    optimizer: str = "sgd"
    image_size: int = DEFAULT_IMAGE_SIZE
    workers: int = 0
    seed: int = 0
    lr_schedule: str = "constant"
    lr_steps: list = field(default_factory=list)  # epochs after which "step" multiplies the lr by lr_factor
    lr_factor: float = 0.1
    warmup_epochs: float = 0.0
    patience: int = None
    output_lr_mult: float = 1.0
    imagenet_class: str = "hotdog"
    # Read images from the decode-once cache (cache.py). On by default: measured with `hotdog bench`, it
    # lifts training from 0.58 to 0.84 of the compute ceiling at 64 px and 0.87 to 0.93 at 224 px
    # (docs/PERFORMANCE.md).
    cache: bool = True
    augment: bool = True    # False: the training set gets the test transform

    def __post_init__(self):
        strategy = parse_strategy(self.strategy, self.model)  # validates the name
        if self.lr is None:
            self.lr = PRETRAINED_LR if strategy.pretrained else SCRATCH_LR
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise HotdogError("the learning rate must be a positive number (got {})".format(self.lr))
        if self.lr_schedule not in LR_SCHEDULES:
            raise HotdogError("--lr-schedule must be one of {}".format(", ".join(LR_SCHEDULES)))
        for name in ("epochs", "batch_size", "image_size"):
            if getattr(self, name) < 1:
                raise HotdogError("--{} must be at least 1".format(name.replace("_", "-")))

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def seed_everything(seed, epoch=0):
    """Seed Python, NumPy and MXNet from (seed, epoch).

    MXNet 1.x cannot save its generator's state, so every epoch reseeds instead: a resumed run draws the
    same shuffles and augmentations as an uninterrupted one (with --workers 0).
    """
    value = seed * 100003 + epoch
    random.seed(value)
    np.random.seed(value % (2 ** 32))
    mx.random.seed(value % (2 ** 31))


def make_lr_scheduler(config, iters_per_epoch):
    """An MXNet LRScheduler (counted in updates) for the config's schedule and warmup, or None."""
    warmup = int(round(config.warmup_epochs * iters_per_epoch))
    total = config.epochs * iters_per_epoch
    common = dict(base_lr=config.lr, warmup_steps=warmup, warmup_begin_lr=0.0)
    if config.lr_schedule == "cosine":
        return mx.lr_scheduler.CosineScheduler(max_update=max(total, warmup + 1), final_lr=0.0, **common)
    if config.lr_schedule == "step":
        steps = config.lr_steps or [max(1, config.epochs // 2), max(1, (3 * config.epochs) // 4)]
        updates = sorted({int(s) * iters_per_epoch for s in steps if 0 < int(s) < config.epochs})
        if updates:
            return mx.lr_scheduler.MultiFactorScheduler(step=updates, factor=config.lr_factor, **common)
    if warmup:  # constant after a warmup
        return mx.lr_scheduler.FactorScheduler(step=total + 1, factor=1.0, **common)
    return None


def make_trainer(net, config, contexts, iters_per_epoch, kvstore=None, update_on_kvstore=None, cluster=None):
    params = {"learning_rate": config.lr, "wd": config.wd}
    if config.optimizer in ("sgd", "nag"):
        params["momentum"] = config.momentum
    scheduler = make_lr_scheduler(config, iters_per_epoch)
    if scheduler is not None:
        params["lr_scheduler"] = scheduler
    if kvstore is None:  # summing gradients on the GPUs is faster there; on CPU contexts it is all host memory
        kvstore = "device" if contexts[0].device_type == "gpu" else "local"
    try:
        if cluster is not None:  # a distributed run: the cluster knows how gradients travel
            return cluster.make_trainer(trainable_params(net), config.optimizer, params)
        return gluon.Trainer(trainable_params(net), config.optimizer, params, kvstore=kvstore,
                             update_on_kvstore=update_on_kvstore)
    except (ValueError, mx.base.MXNetError) as exc:
        raise HotdogError("cannot create optimizer {!r}: {}".format(config.optimizer, exc)) from None


def split_batch(x, y, contexts):
    """Slices of the batch per context, plus zero sample weights for contexts left without data.

    A final batch smaller than the number of contexts still gives every context a (zero-weighted) sample:
    a context with no backward pass would keep the previous batch's gradient, which the kvstore would
    add in (or, told to ignore it, the trainer would leave that context's weights behind).
    """
    n = x.shape[0]
    used = contexts[:min(len(contexts), n)]
    xs = gluon.utils.split_and_load(x, used, even_split=False)
    ys = gluon.utils.split_and_load(y, used, even_split=False)
    weights = [None] * len(used)
    for ctx in contexts[len(used):]:
        xs.append(x[:1].as_in_context(ctx))
        ys.append(y[:1].as_in_context(ctx))
        weights.append(mx.nd.zeros((1, 1), ctx=ctx))
    return xs, ys, weights


def train_step(net, trainer, loss_fn, x, y, contexts, workers=1):
    """One optimisation step on a batch split across ``contexts``.

    ``workers``: in a distributed run, how many workers each contribute a batch of this size: the summed
    gradient is divided by the global batch. Returns per-context NDArrays (loss sum, number correct), left
    on the devices.
    """
    xs, ys, weights = split_batch(x, y, contexts)
    with autograd.record():
        outputs = [net(xi) for xi in xs]
        losses = [loss_fn(o, yi, w) if w is not None else loss_fn(o, yi) for o, yi, w in zip(outputs, ys, weights)]
    autograd.backward(losses)
    trainer.step(x.shape[0] * workers)
    n_real = min(len(contexts), x.shape[0])
    return [(losses[j].sum(), (outputs[j].argmax(axis=1) == ys[j].astype("float32")).sum()) for j in range(n_real)]


class _Accumulator:
    """Sums kept on each device; read back (one host synchronisation) only by ``result``."""

    def __init__(self, contexts):
        self.loss = [mx.nd.zeros((1,), ctx=c) for c in contexts]
        self.correct = [mx.nd.zeros((1,), ctx=c) for c in contexts]
        self.count = 0

    def add(self, per_context, n):
        for j, (loss, correct) in enumerate(per_context):
            self.loss[j] += loss
            self.correct[j] += correct
        self.count += n

    def result(self):
        if not self.count:
            return float("nan"), float("nan")
        loss = sum(a.asscalar() for a in self.loss)
        correct = sum(a.asscalar() for a in self.correct)
        return float(loss / self.count), float(correct / self.count)


def evaluate_loss_acc(net, loader, contexts, loss_fn):
    """Mean loss and accuracy over ``loader`` (inference mode)."""
    acc = _Accumulator(contexts)
    for x, y in loader:
        xs, ys, _ = split_batch(x, y, contexts)
        n_real = min(len(contexts), x.shape[0])
        outputs = [net(xi) for xi in xs[:n_real]]
        acc.add([(loss_fn(o, yi).sum(), (o.argmax(axis=1) == yi.astype("float32")).sum())
                 for o, yi in zip(outputs, ys[:n_real])], x.shape[0])
    return acc.result()


def train_epoch(net, trainer, loader, contexts, loss_fn, epoch, bar=None, workers=1):
    """One pass over ``loader``; returns (loss, accuracy, images).

    The divergence check reads the *previous* batch's loss, so the host never waits for the batch it just
    queued: the devices stay busy while a NaN is still caught one batch later.
    """
    acc = _Accumulator(contexts)
    pending = None

    def check(batch_index, per_context):
        value = sum(loss.asscalar() for loss, _ in per_context)
        if not math.isfinite(value):
            raise TrainingDiverged("the loss became {} in epoch {}, batch {} (learning rate {:g}).".format(
                value, epoch, batch_index + 1, trainer.learning_rate))

    for i, (x, y) in enumerate(loader):
        per_context = train_step(net, trainer, loss_fn, x, y, contexts, workers)
        acc.add(per_context, x.shape[0])
        if pending is not None:
            check(*pending)
        pending = (i, per_context)
        if bar is not None:
            bar.update(x.shape[0])
    if pending is not None:
        check(*pending)
    loss, accuracy = acc.result()
    return loss, accuracy, acc.count


def features_dataset(net, loader, contexts):
    """The pooled backbone features of every image of ``loader`` (inference mode), as an ArrayDataset."""
    features, labels = [], []
    for x, y in loader:
        xs, _, _ = split_batch(x, y, contexts)
        features += [net.features(xi).as_in_context(mx.cpu()) for xi in xs[:min(len(contexts), x.shape[0])]]
        labels.append(y)
    # As numpy arrays: the loader then gathers a batch with one numpy indexing per item instead of one
    # MXNet slice operation per item, which dominated these millisecond epochs.
    return gluon.data.ArrayDataset(mx.nd.concat(*features, dim=0).asnumpy(), mx.nd.concat(*labels, dim=0).asnumpy())


def _check_resumable(saved, config):
    different = [k for k in RESUME_KEYS if saved.get(k) != getattr(config, k)]
    if saved.get("lr") != config.lr and (config.lr_schedule != "constant" or config.warmup_epochs):
        different.append("lr")
    if different:
        raise HotdogError("cannot resume: the checkpoint was made with different settings ({}). Use the same "
                          "options, or another --out.".format(", ".join(
                              "{}={!r} not {!r}".format(k, saved.get(k), getattr(config, k)) for k in different)))


def _kept(out_dir, history):
    if not history:
        return "no epoch completed, so there is no checkpoint"
    return "the last good checkpoint (epoch {}) is kept in {}; resume from it with --resume and a lower --lr".format(
        history[-1]["epoch"], os.path.join(out_dir, "checkpoint"))


def train(config, out_dir, contexts, pretrained=None, resume=False, quiet=False, kvstore=None, init_params=None,
          stage=1, cluster=None):
    """Train ``config.strategy`` into ``out_dir``; return a summary dict (history, best epoch, paths).

    ``init_params``: start from a 2-class model saved by an earlier run (two-stage training's second
    stage) instead of ``pretrained``; ``stage`` is recorded in the history.
    ``cluster``: a distributed.Cluster for multi-machine training (only its rank 0 writes).
    """
    writes = cluster is None or cluster.is_root
    workers = cluster.num_workers if cluster else 1
    step_workers = cluster.step_workers if cluster else 1
    if writes:
        os.makedirs(out_dir, exist_ok=True)
    say = (lambda *a: None) if quiet or not writes else print
    state = load_checkpoint_state(out_dir) if resume else None
    if resume and state is None:
        say("no checkpoint in {}; starting from epoch 1".format(out_dir))
    if state is not None:
        _check_resumable(state["config"], config)

    strategy = parse_strategy(config.strategy, config.model)
    classes = dataset_classes(config.data_dir)
    if strategy.hotdog_init and classes != CLASSES:
        raise HotdogError("hotdog-init needs the classes {} (this data has {})".format(", ".join(CLASSES), ", ".join(classes)))
    if cluster and strategy.cached:
        raise HotdogError("the cached strategy runs on one machine (its epochs take milliseconds); drop --kvstore")
    local_batch = config.batch_size // workers
    if local_batch < 1:
        raise HotdogError("--batch-size {} is the global batch; it must be at least the number of workers ({})".format(
            config.batch_size, workers))
    train_set, test_set = load_datasets(config.data_dir, config.image_size, cache=config.cache,
                                        augment=config.augment and not strategy.cached, quiet=quiet)
    sampler = None
    if cluster:
        from .distributed import ShardSampler
        sampler = ShardSampler(len(train_set), cluster.rank, workers, config.seed)
        if local_batch * workers != config.batch_size:
            log.warning("global batch %d is not a multiple of %d workers: using %d per worker",
                        config.batch_size, workers, local_batch)
    train_loader = make_loader(train_set, local_batch, shuffle=True, num_workers=config.workers, sampler=sampler)
    test_loader = make_loader(test_set, config.batch_size, shuffle=False, num_workers=config.workers)

    seed_everything(config.seed)  # the new output layer's (or the scratch net's) initialisation
    # A cached run's checkpoints hold only the output layer: the net itself is rebuilt from the pretrained one.
    net = build_net(config.strategy, config.model, pretrained=pretrained, ctx=contexts,
                    output_lr_mult=config.output_lr_mult, imagenet_class=config.imagenet_class,
                    params_file=state["params"] if state and not strategy.cached else init_params,
                    num_classes=len(classes))
    net.hybridize(static_alloc=True)
    # `block` is what the loop trains and checkpoints: the whole net, or for `cached` only its output layer,
    # fed with the backbone's features computed once.
    block = net
    if strategy.cached:
        tic = time.time()
        # Extracted in dataset order, so each epoch's shuffle draws the same batches as a frozen run would.
        in_order = make_loader(train_set, config.batch_size, num_workers=config.workers)
        train_loader = make_loader(features_dataset(net, in_order, contexts), config.batch_size, shuffle=True)
        test_loader = make_loader(features_dataset(net, test_loader, contexts), config.batch_size)
        say("features of {} train and {} test images computed once in {:.1f}s".format(
            len(train_set), len(test_set), time.time() - tic))
        block = net.output
        if state is not None:
            block.load_parameters(state["params"], ctx=contexts)
        block.hybridize(static_alloc=True)
    iters_per_epoch = len(train_loader)
    trainer = make_trainer(block, config, contexts, iters_per_epoch, kvstore, cluster=cluster)
    if state is not None:
        trainer.load_states(state["states"])
        if trainer.learning_rate != config.lr:  # resumed with a new --lr (constant schedule only)
            say("resuming with learning rate {:g} (was {:g})".format(config.lr, trainer.learning_rate))
            trainer.set_learning_rate(config.lr)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    history = state["history"] if state else []
    best = state.get("best") if state else None
    start = state["epoch"] if state else 0
    say("training {} ({}) on {} for epochs {}..{}: {} train / {} test images, batch {}, lr {:g}".format(
        config.strategy, config.model, describe(contexts), start + 1, config.epochs, len(train_set),
        len(test_set), config.batch_size, config.lr))
    stopped_early = False
    # Every worker keeps its best weights (for --patience); only rank 0's copy goes to OUT.
    best_path = os.path.join(out_dir if writes else tempfile.mkdtemp(prefix="hotdog-worker-"), "best.params")
    shared_best = os.path.join(out_dir, "best.params")
    if not writes and state is not None and os.path.exists(shared_best):  # resume: rank 0's copy (shared storage)
        shutil.copyfile(shared_best, best_path)
    for epoch in range(start + 1, config.epochs + 1):
        seed_everything(config.seed, epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        lr = trainer.learning_rate
        tic = time.time()
        with tqdm(total=len(train_set), unit="img", leave=False, desc="epoch {}".format(epoch),
                  disable=not show_progress(quiet)) as bar:
            try:
                train_loss, train_acc, n_images = train_epoch(block, trainer, train_loader, contexts, loss_fn,
                                                              epoch, bar, step_workers)
            except TrainingDiverged as exc:
                raise TrainingDiverged("training diverged: {} Stopped; {}.".format(
                    exc, _kept(out_dir, history))) from None
        train_seconds = time.time() - tic
        if cluster:  # the same BatchNorm statistics and training figures on every worker
            cluster.average_aux_states(block, contexts)
            loss_sum, correct, n_images = cluster.allreduce_sum(
                METRIC_KEY, np.array([train_loss * n_images, train_acc * n_images, n_images]))
            train_loss, train_acc, n_images = loss_sum / n_images, correct / n_images, int(n_images)
        test_loss, test_acc = evaluate_loss_acc(block, test_loader, contexts, loss_fn)
        if not math.isfinite(test_loss):  # weights blew up without a NaN training loss: not a good checkpoint
            raise TrainingDiverged("training diverged: the test loss became {} after epoch {} (learning rate "
                                   "{:g}). Stopped; {}.".format(test_loss, epoch, lr, _kept(out_dir, history)))
        record = {"epoch": epoch, "stage": stage, "lr": lr, "train_loss": train_loss, "train_acc": train_acc,
                  "test_loss": test_loss, "test_acc": test_acc, "train_images": n_images,
                  "seconds": time.time() - tic,
                  "train_images_per_sec": n_images / train_seconds if train_seconds > 0 else float("nan")}
        history.append(record)
        say("epoch {}/{}  train loss {:.4f} acc {:.3f}  test loss {:.4f} acc {:.3f}  {:.1f}s  {:.1f} img/s".format(
            epoch, config.epochs, train_loss, train_acc, test_loss, test_acc, record["seconds"],
            record["train_images_per_sec"]))
        if best is None or test_loss < best["test_loss"]:
            best = {"epoch": epoch, "test_loss": test_loss, "test_acc": test_acc}
            atomic_save(block.save_parameters, best_path)
        if writes:
            save_checkpoint(out_dir, epoch, block, trainer, {"history": history, "best": best, "config": asdict(config)})
            write_history(out_dir, history)
        if config.patience and epoch - best["epoch"] >= config.patience:
            say("early stop: test loss has not improved for {} epochs (best: epoch {})".format(
                config.patience, best["epoch"]))
            stopped_early = True
            break

    model_path = os.path.join(out_dir, "model.params")
    if config.patience and best is not None:
        block.load_parameters(best_path, ctx=contexts)
    if not writes:
        shutil.rmtree(os.path.dirname(best_path), ignore_errors=True)
    if writes:
        atomic_save(net.save_parameters, model_path)
        write_model_config(out_dir, config, best, classes)
    if cluster:
        from .distributed import fingerprint
        # Printed by every worker: equal fingerprints mean identical weights everywhere.
        print("worker {} of {}: final weights sha1 {}".format(cluster.rank, workers, fingerprint(net)), flush=True)
    return {"history": history, "best": best, "stopped_early": stopped_early, "model": model_path,
            "contexts": [str(c) for c in contexts]}


def train_two_stage(config, out_dir, contexts, pretrained=None, resume=False, quiet=False, kvstore=None):
    """Stage 1: only the new output learns (backbone frozen), for half the epochs at ``config.lr``.
    Stage 2: from stage 1's model, unfreeze the backbone (all of it, or its last K stages) and train the
    other half at a tenth of the learning rate. Each stage keeps its own checkpoints in OUT/stage1 and
    OUT/stage2; OUT holds the merged history (with a ``stage`` column) and the final model.
    """
    stage2 = parse_strategy(config.strategy, config.model).stage2
    epochs1 = max(1, config.epochs // 2)
    epochs2 = config.epochs - epochs1
    first = train(replace(config, strategy="frozen", epochs=epochs1), os.path.join(out_dir, "stage1"), contexts,
                  pretrained=pretrained, resume=resume, quiet=quiet, kvstore=kvstore, stage=1)
    history, best, last = list(first["history"]), first["best"], first
    final_config = replace(config, strategy="frozen")
    if epochs2:
        final_config = replace(config, strategy=stage2, epochs=epochs2, lr=config.lr / 10)
        if not quiet:
            print("stage 2: unfreezing ({}), learning rate {:g}".format(stage2, final_config.lr))
        last = train(final_config, os.path.join(out_dir, "stage2"), contexts, resume=resume, quiet=quiet,
                     kvstore=kvstore, init_params=first["model"], stage=2)
        for record in last["history"]:
            history.append(dict(record, epoch=record["epoch"] + epochs1))
        if last["best"]["test_loss"] < best["test_loss"]:
            best = dict(last["best"], epoch=last["best"]["epoch"] + epochs1)
    write_history(out_dir, history)
    model_path = os.path.join(out_dir, "model.params")
    with open(last["model"], "rb") as f:
        atomic_write_bytes(model_path, f.read())
    write_model_config(out_dir, final_config, best, dataset_classes(config.data_dir))
    return dict(last, history=history, best=best, model=model_path, stage2_epoch=epochs1 + 1 if epochs2 else None)


def run_strategy(config, out_dir, contexts, pretrained=None, resume=False, quiet=False, kvstore=None, cluster=None):
    """Train any strategy, two-stage included."""
    if parse_strategy(config.strategy, config.model).stage2:
        if cluster:
            raise HotdogError("two-stage training runs on one machine for now; train the stages as two runs "
                              "(--strategy frozen, then finetune from its model) or drop --kvstore")
        return train_two_stage(config, out_dir, contexts, pretrained, resume, quiet, kvstore)
    return train(config, out_dir, contexts, pretrained=pretrained, resume=resume, quiet=quiet, kvstore=kvstore,
                 cluster=cluster)


def write_model_config(out_dir, config, best=None, classes=CLASSES):
    """config.json: what `predict` and `evaluate` need to rebuild the net without the command line."""
    strategy = "frozen" if config.strategy == "cached" else config.strategy  # same net, same weights
    atomic_write_json(os.path.join(out_dir, "config.json"), {
        "hotdog_version": __version__, "model": config.model, "strategy": strategy,
        "classes": list(classes), "image_size": config.image_size, "data_dir": config.data_dir,
        "train": asdict(config), "best": best,
    })
