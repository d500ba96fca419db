"""Seeding, learning-rate schedules and the Trainer."""
import random

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..errors import HotdogError
from ..models.surgery import trainable_params


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


def make_trainer(net, config, contexts, iters_per_epoch, kvstore=None, cluster=None):
    """A Trainer over ``net``'s trainable parameters, with the config's optimizer and schedule.

    ``cluster``: a distributed run's cluster, which knows how gradients travel between machines.
    """
    params = {"learning_rate": config.lr, "wd": config.wd}
    if config.optimizer in ("sgd", "nag"):
        params["momentum"] = config.momentum
    scheduler = make_lr_scheduler(config, iters_per_epoch)
    if scheduler is not None:
        params["lr_scheduler"] = scheduler
    if kvstore is None:  # summing gradients on the GPUs is faster there; on CPU contexts it is all host memory
        kvstore = "device" if contexts[0].device_type == "gpu" else "local"
    try:
        if cluster is not None:
            return cluster.make_trainer(trainable_params(net), config.optimizer, params)
        return gluon.Trainer(trainable_params(net), config.optimizer, params, kvstore=kvstore)
    except (ValueError, mx.base.MXNetError) as exc:
        raise HotdogError("cannot create optimizer {!r}: {}".format(config.optimizer, exc)) from None
