"""``lr_find``: the learning-rate range test on a strategy's net, on training images only.

The net is built exactly as ``train`` builds it (``strategy.build``, frozen parts frozen), trained for a
few dozen mini-batches with the rate rising exponentially, and thrown away: the test leaves no model, and
the pretrained net it starts from is copied, never changed. Only the training split is read (its
decode-once cache may be built); choosing a rate on test images would leak them into the result.

The rates are for Gluon's per-example *mean* loss: ``trainer.step(batch_size)`` divides the summed gradient
by the batch size. The chapter's PyTorch edition sums the loss over the batch instead, so its rates (5e-5)
are these divided by the batch size. The arithmetic (rates, smoothing, stop rule, suggestions) is in
``lr_range``.
"""
import itertools
import logging
import math
from dataclasses import replace

from mxnet import gluon
from mxnet.gluon import Block
from tqdm import tqdm

from .._io import show_progress
from ..data.check import require_usable
from ..data.folders import dataset_classes, dataset_root
from ..data.pipeline import load_training_split, make_loader
from ..errors import HotdogError
from .lr_range import (
    DEFAULT_END_LR,
    DEFAULT_ITERATIONS,
    DEFAULT_START_LR,
    DIVERGENCE_FACTOR,
    METHODS,
    SMOOTHING,
    SUGGESTED_METHOD,
    UNUSED_SETTINGS,
    WHY_MINIMUM,
    SmoothedLoss,
    check_range,
    diverged,
    lr_schedule,
    read_curve,
)
from .optim import make_trainer, seed_everything
from .step import features_dataset, train_step

log = logging.getLogger(__name__)

SCHEMA = "hotdog.lr_find/1"


def lr_find(config, contexts, pretrained=None, start_lr=DEFAULT_START_LR, end_lr=DEFAULT_END_LR,
            iterations=DEFAULT_ITERATIONS, smoothing=SMOOTHING, divergence_factor=DIVERGENCE_FACTOR, quiet=False):
    """The range test for ``config`` (its strategy, data, batch size, optimizer...) on its training split.

    ``pretrained``: the pretrained net, or a function that returns it (called only for a pretrained
    strategy). Returns a dict: the rates tried, the raw and smoothed losses, why it stopped, both readings
    of the curve and the suggested rate (``suggested_lr``, None when the curve cannot give one: ``notes``
    says why). Nothing is written.
    """
    check_range(start_lr, end_lr, iterations)  # before the cache is built: a typo fails at once
    classes = dataset_classes(config.data_dir)
    config.strategy_spec.check_classes(classes)
    # on_features strategies extract features from un-augmented images, as their training does.
    augment = config.augment and not config.strategy_spec.on_features
    train_set = training_images(config, augment, quiet)
    return lr_range_test(train_set, len(classes), config, contexts, pretrained, start_lr, end_lr, iterations,
                         smoothing, divergence_factor, quiet)


def training_images(config, augment=True, quiet=False):
    """The config's training split (validation images held out as training holds them out), transformed as
    training sees it, after the folder check; no validation or test image is opened."""
    exclude = require_usable(dataset_root(config.data_dir), config.image_size, config.skip_bad_images)
    return load_training_split(config.data_dir, config.image_size, config.val_fraction, config.seed,
                               crop_scale=config.crop_scale, cache=config.cache, augment=augment, quiet=quiet,
                               exclude=exclude)


def lr_range_test(train_set, num_classes, config, contexts, pretrained=None, start_lr=DEFAULT_START_LR,
                  end_lr=DEFAULT_END_LR, iterations=DEFAULT_ITERATIONS, smoothing=SMOOTHING,
                  divergence_factor=DIVERGENCE_FACTOR, quiet=False):
    """The range test on ``train_set`` (training images only, already transformed); see ``lr_find``."""
    check_range(start_lr, end_lr, iterations)
    strategy = config.strategy_spec
    if pretrained is not None and not isinstance(pretrained, Block):  # a function that loads it
        pretrained = pretrained() if strategy.pretrained else None
    if strategy.stage_plan:
        log.info("%s: the range test runs its first stage (%s); its second stage trains at %g times that rate",
                 config.strategy, strategy.stage_plan[0], strategy.then_lr_factor)
    seed_everything(config.seed)  # the new output layer's (or the scratch net's) initialisation, the shuffles
    block, dataset = _trainable(strategy, config, train_set, num_classes, contexts, pretrained)
    # Full batches only, so that every step's loss is a mean over the same number of images; a training
    # split smaller than a batch is one batch.
    batch_size = min(config.batch_size, len(dataset))
    loader = make_loader(dataset, batch_size, shuffle=True, num_workers=config.workers, last_batch="discard")
    # The range test sets the rate at every step: no schedule or warmup may change it behind its back.
    fixed = replace(config, lr=start_lr, lr_schedule="constant", warmup_epochs=0.0)
    trainer = make_trainer(block, fixed, contexts, len(loader))
    log.info("learning-rate range test of %s (%s): %d training images, batch %d, %s, rates %g to %g over %d steps",
             config.strategy, config.model, len(train_set), batch_size, config.optimizer, start_lr, end_lr, iterations)
    with tqdm(lr_schedule(start_lr, end_lr, iterations), desc="lr-find", unit="step", leave=False,
              disable=not show_progress(quiet)) as rates:
        curve = run_range(block, trainer, _cycle(loader), contexts, rates, smoothing, divergence_factor)
    if not curve["lrs"]:
        raise HotdogError("the loss was {} from the first step (learning rate {:g}): check the images, or start the "
                          "range lower".format(curve["stop"]["loss"], start_lr))
    return _report(curve, config, train_set, batch_size, contexts, start_lr, end_lr, iterations, smoothing,
                   divergence_factor)


def _trainable(strategy, config, train_set, num_classes, contexts, pretrained):
    """(the block that learns, the dataset it learns from), for ``strategy``.

    ``cached`` trains only the output layer on pooled features computed once, so the test does too: on
    those features (the same rates apply to the frozen strategy's output, but its backbone runs at every
    step and sees augmented images).
    """
    net = strategy.build(pretrained, config.model, num_classes=num_classes, ctx=contexts,
                         output_lr_mult=config.output_lr_mult, imagenet_class=config.imagenet_class)
    net.hybridize(static_alloc=True)
    if not strategy.on_features:
        return net, train_set
    in_order = make_loader(train_set, config.batch_size, num_workers=config.workers)
    features = features_dataset(net, in_order, contexts)
    net.output.hybridize(static_alloc=True)
    return net.output, features


def _cycle(loader):
    """The loader's batches, pass after pass (each pass reshuffled): a small split still gives every step."""
    for _ in itertools.count():
        yield from loader


def run_range(block, trainer, batches, contexts, lrs, smoothing=SMOOTHING, divergence_factor=DIVERGENCE_FACTOR):
    """Train ``block`` one batch of ``batches`` per rate of ``lrs``, recording the loss, until the rates run
    out or the loss diverges.

    A step's loss is the batch's mean loss in the forward pass before that step's update (as fastai
    records it). A non-finite loss ends the test and is not recorded (so every recorded loss is finite);
    a smoothed loss ``divergence_factor`` times its minimum ends it after being recorded. Returns
    {"lrs", "losses", "smoothed", "stop"}; ``stop``: {"reason": "end of range" | "diverged" | "not finite",
    "lr": the rate of the last step taken, "loss": its loss}.
    """
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    smoother = SmoothedLoss(smoothing)
    curve = {"lrs": [], "losses": [], "smoothed": [], "stop": {"reason": "end of range", "lr": None, "loss": None}}
    for lr, (x, y) in zip(lrs, batches):  # lrs first: no batch is loaded after the last rate
        trainer.set_learning_rate(lr)
        per_context = train_step(block, trainer, loss_fn, x, y, contexts)
        # Read at every step, which waits for the devices: whether to go on depends on this very loss.
        loss = sum(loss_sum.asscalar() for loss_sum, _ in per_context) / x.shape[0]
        curve["stop"].update(lr=lr, loss=loss)
        if not math.isfinite(loss):
            curve["stop"]["reason"] = "not finite"
            break
        smoothed = smoother.add(loss)
        for key, value in (("lrs", lr), ("losses", loss), ("smoothed", smoothed)):
            curve[key].append(float(value))
        if diverged(smoothed, min(curve["smoothed"]), divergence_factor):
            curve["stop"]["reason"] = "diverged"
            break
    return curve


def _report(curve, config, train_set, batch_size, contexts, start_lr, end_lr, iterations, smoothing,
            divergence_factor):
    """The result dict: the curve, what it says, and every setting that made it."""
    stopped_early = curve["stop"]["reason"] != "end of range"
    reading = read_curve(curve["lrs"], curve["smoothed"], stopped_early)
    settings = {k: v for k, v in config.to_dict().items() if k not in UNUSED_SETTINGS}
    settings.update(start_lr=start_lr, end_lr=end_lr, iterations=iterations, smoothing=smoothing,
                    divergence_factor=divergence_factor, batch_size=batch_size, requested_batch_size=config.batch_size)
    stop = dict(curve["stop"], loss=curve["stop"]["loss"] if math.isfinite(curve["stop"]["loss"]) else None)
    return {
        "schema": SCHEMA, "strategy": config.strategy, "model": config.model, "settings": settings,
        "train_images": len(train_set), "devices": [str(c) for c in contexts],
        "lrs": curve["lrs"], "losses": curve["losses"], "smoothed": curve["smoothed"],
        "stop": stop, "diverged_lr": curve["stop"]["lr"] if stopped_early else None,
        "min_loss_lr": reading["min_loss_lr"], "fall": reading["fall"], "suggestions": reading["suggestions"],
        "method": SUGGESTED_METHOD, "methods": METHODS, "why": WHY_MINIMUM,
        "suggested_lr": reading["suggestions"][SUGGESTED_METHOD], "notes": reading["notes"],
        "loss": "per-example mean (Gluon's trainer.step(batch_size)); a summed loss needs these rates divided "
                "by the batch size",
    }
