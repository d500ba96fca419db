"""Training strategies: which net to build and which of its weights learn.

  finetune     pretrained features + new output, everything learns (the chapter)
  scratch      same architecture, random init, everything learns (the chapter's baseline)
  frozen       pretrained features frozen, only the new output learns
  partial:K    only the last K stages of features, and the output, learn
  hotdog-init  like finetune, but the output starts from ImageNet's own hotdog classifier row
  two-stage    the Keras/fastai recipe: train the new output on the frozen backbone, then unfreeze all of it
               (two-stage:K: its last K stages) and go on at a tenth of the learning rate
  cached       frozen, computed once: the backbone runs a single time over both splits (no augmentation)
               and only the output learns, on the stored pooled features (Deep Learning with R, 5.3)

Frozen means two things: the weights get no gradient (``grad_req='null'``) *and* their BatchNorm layers use
their stored running statistics (``use_global_stats``). Without the second, a "frozen" backbone is not
frozen, the pitfall most users hit: in training mode BatchNorm normalises with each batch's own statistics
(so the features seen in training differ from those at test time), and with cuDNN it also overwrites the
running mean and variance in the forward pass. (MXNet's CPU kernels update them in the backward pass,
which a frozen prefix never gets; the first effect holds everywhere.)
"""
import logging
from collections import namedtuple

from mxnet.gluon import nn
from mxnet.gluon.model_zoo.vision import get_model

from . import imagenet
from .errors import HotdogError
from .layout import CLASSES
from .models import (DEFAULT_BACKBONE, finetune_net, get_backbone, load_params_checked, parameter_counts,
                     scratch_net)

log = logging.getLogger(__name__)

# trainable_stages: how many of the last stages of `features` learn; None = all of features.
# stage2: for two-stage training, the strategy of the second stage (the first is "frozen").
# cached: train the output on features computed once.
Strategy = namedtuple("Strategy", "name pretrained trainable_stages hotdog_init stage2 cached")
Strategy.__new__.__defaults__ = (False,)  # cached
STRATEGY_NAMES = ("finetune", "scratch", "frozen", "partial:K", "hotdog-init", "two-stage", "two-stage:K", "cached")


def _stage_count(text, model):
    n_stages = len(get_backbone(model).stage_starts)
    try:
        k = int(text.split(":", 1)[1])
    except ValueError:
        k = -1
    if not 1 <= k <= n_stages:
        raise HotdogError("{}: K must be a whole number from 1 to {} (the stages of {})".format(text, n_stages, model))
    return k


def parse_strategy(text, model=DEFAULT_BACKBONE):
    """A strategy's name (see STRATEGY_NAMES) -> Strategy."""
    if text == "finetune":
        return Strategy(text, True, None, False, None)
    if text == "scratch":
        return Strategy(text, False, None, False, None)
    if text == "frozen":
        return Strategy(text, True, 0, False, None)
    if text == "hotdog-init":
        return Strategy(text, True, None, True, None)
    if text.startswith("partial:"):
        return Strategy(text, True, _stage_count(text, model), False, None)
    if text == "cached":
        return Strategy(text, True, 0, False, None, True)
    if text == "two-stage":
        return Strategy(text, True, 0, False, "finetune")
    if text.startswith("two-stage:"):
        return Strategy(text, True, 0, False, "partial:{}".format(_stage_count(text, model)))
    raise HotdogError("unknown strategy {!r}; choose from {}".format(text, ", ".join(STRATEGY_NAMES)))


def _use_running_stats(block):
    if isinstance(block, nn.BatchNorm):
        block._kwargs["use_global_stats"] = True


def freeze_features(net, model, trainable_stages):
    """Freeze all of ``net.features`` but its last ``trainable_stages`` stages (0 = all of it)."""
    if trainable_stages is None:
        return net
    children = list(net.features._children.values())
    starts = get_backbone(model).stage_starts
    cut = starts[-trainable_stages] if trainable_stages else len(children)
    for child in children[:cut]:
        child.collect_params().setattr("grad_req", "null")
        child.apply(_use_running_stats)
    return net


def build_net(strategy, model=DEFAULT_BACKBONE, pretrained=None, ctx=None, output_lr_mult=1.0,
              imagenet_class=imagenet.HOTDOG_CLASS_NAME, params_file=None, num_classes=len(CLASSES)):
    """The net for ``strategy`` (a Strategy or its text), with its frozen parts frozen.

    ``pretrained``: the 1000-class ImageNet net the pretrained strategies start from.
    ``params_file``: instead, load a 2-class net saved by a run (resume, predict, evaluate).
    """
    if isinstance(strategy, str):
        strategy = parse_strategy(strategy, model)
    if params_file:
        net = get_model(get_backbone(model).zoo_name, classes=num_classes)
        load_params_checked(net, params_file, ctx, what="{} with {} classes".format(model, num_classes))
        if output_lr_mult != 1.0:
            net.output.collect_params().setattr("lr_mult", output_lr_mult)
    elif strategy.pretrained:
        if pretrained is None:
            raise HotdogError("strategy {} needs the pretrained net".format(strategy.name))
        if strategy.hotdog_init and num_classes != len(CLASSES):
            raise HotdogError("hotdog-init needs the two classes hotdog / not-hotdog (this data has {})".format(num_classes))
        net = finetune_net(pretrained, model, num_classes=num_classes, ctx=ctx, output_lr_mult=output_lr_mult)
        if strategy.hotdog_init:
            imagenet.init_output_from_class(net, pretrained, imagenet_class)
    else:
        net = scratch_net(model, num_classes=num_classes, ctx=ctx)
    freeze_features(net, model, strategy.trainable_stages)
    trainable, frozen = parameter_counts(net)
    # Worth saying when a net is built for training; a reloaded one (predict, evaluate) stays quiet.
    (log.debug if params_file else log.info)("built %s for %s: %s trainable, %s frozen parameters", model, strategy.name,
             "{:,}".format(trainable), "{:,}".format(frozen))
    return net


def trainable_params(net):
    """The parameters a Trainer should update (frozen ones have grad_req 'null')."""
    return {name: p for name, p in net.collect_params().items() if p.grad_req != "null"}
