"""Training strategies: which net is built, which of its weights learn, and in how many stages.

A strategy is a ``Strategy`` object; ``STRATEGIES`` is the one registry that turns the text a user writes
(``partial:2``) into one. The training loop asks the object, never the name: adding a strategy means
registering it here (or, for an experiment, anywhere before training: see ``register``).

  finetune     pretrained features + new output, everything learns (the chapter)
  scratch      same architecture, random init, everything learns (the chapter's baseline)
  frozen       pretrained features frozen, only the new output learns
  partial:K    only the last K stages of features, and the output, learn
  hotdog-init  like finetune, but the output starts from ImageNet's own hotdog classifier row
  two-stage    the Keras/fastai recipe: train the new output on the frozen backbone, then unfreeze all of it
               (two-stage:K: its last K stages) and go on at a tenth of the learning rate
  cached       frozen, computed once: the backbone runs a single time over both splits (no augmentation)
               and only the output learns, on the stored pooled features (Deep Learning with R, 5.3)

What "frozen" means exactly (no gradient *and* BatchNorm on its running statistics) is written down in
``surgery.py``. This module imports no MXNet at load time, so ``hotdog --help`` can list the strategies.
"""
import logging
from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

from ..data.layout import CLASSES
from ..errors import ConfigError, HotdogError
from .backbones import DEFAULT_BACKBONE, get_backbone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Strategy:
    """What one strategy does. Every field is a capability the loop reads; none is a name it tests.

    ``pretrained``: the net starts from the pretrained features (else every weight is random).
    ``trainable_stages``: how many of the last stages of ``features`` learn; None = all, 0 = none.
    ``init_output``: ``f(net, pretrained, imagenet_class)`` that sets the new output layer's first weights.
    ``required_classes``: the dataset classes the strategy only makes sense for (hotdog-init: the chapter's).
    ``on_features``: the backbone runs once over un-augmented images; only the output trains, on the
    stored features (epochs take milliseconds).
    ``stage_plan``: for a strategy trained in two stages, the strategies of its stages (two-stage: frozen,
    then finetune); the second starts from the first one's model, for the other half of the epochs, at
    ``then_lr_factor`` times the learning rate. Empty: one stage, this strategy itself.
    ``saved_as``: the strategy whose net rebuilds the saved model (``cached`` saves a ``frozen`` net).
    """
    name: str
    pretrained: bool
    trainable_stages: Optional[int] = None
    init_output: Optional[Callable] = field(default=None, compare=False)
    required_classes: Optional[Tuple[str, ...]] = None
    on_features: bool = False
    stage_plan: Tuple[str, ...] = ()
    then_lr_factor: float = 0.1
    saved_as: Optional[str] = None

    @property
    def saved_name(self):
        """The strategy name written to config.json, from which ``predict`` rebuilds the net."""
        return self.saved_as or self.name

    def stages(self, epochs, lr):
        """[(strategy text, epochs, learning rate)] in order: this strategy alone, or its two stages."""
        if not self.stage_plan:
            return [(self.name, epochs, lr)]
        first, then = self.stage_plan
        first_epochs = max(1, epochs // 2)
        stages = [(first, first_epochs, lr)]
        if epochs - first_epochs:
            stages.append((then, epochs - first_epochs, lr * self.then_lr_factor))
        return stages

    def build(self, pretrained=None, model=DEFAULT_BACKBONE, num_classes=len(CLASSES), ctx=None,
              output_lr_mult=1.0, imagenet_class="hotdog", params_file=None):
        """The net for this strategy, with its frozen parts frozen.

        ``pretrained``: the ImageNet (or demo source) net the pretrained strategies start from.
        ``params_file``: instead, load a ``num_classes`` net saved by a run (resume, predict, evaluate).
        """
        # Here, not at the top: the registry must load without MXNet (see the module docstring).
        from mxnet.gluon.model_zoo.vision import get_model

        from .surgery import (
            finetune_net,
            freeze_features,
            parameter_counts,
            scratch_net,
            set_output_lr_mult,
        )
        from .zoo import load_params_checked
        if params_file:
            net = get_model(get_backbone(model).zoo_name, classes=num_classes)
            load_params_checked(net, params_file, ctx, what="{} with {} classes".format(model, num_classes))
            set_output_lr_mult(net, output_lr_mult)
        elif self.pretrained:
            if pretrained is None:
                raise HotdogError("strategy {} needs the pretrained net".format(self.name))
            net = finetune_net(pretrained, model, num_classes=num_classes, ctx=ctx, output_lr_mult=output_lr_mult)
            if self.init_output is not None:
                self.init_output(net, pretrained, imagenet_class)
        else:
            net = scratch_net(model, num_classes=num_classes, ctx=ctx)
        freeze_features(net, model, self.trainable_stages)
        trainable, frozen = parameter_counts(net)
        # Worth saying when a net is built for training; a reloaded one (predict, evaluate) stays quiet.
        (log.debug if params_file else log.info)("built %s for %s: %s trainable, %s frozen parameters", model,
                                                 self.name, "{:,}".format(trainable), "{:,}".format(frozen))
        return net

    def check_classes(self, classes):
        if self.required_classes and tuple(classes) != tuple(self.required_classes):
            raise HotdogError("{} needs the classes {} (this data has {})".format(
                self.name, ", ".join(self.required_classes), ", ".join(classes)))


@dataclass(frozen=True)
class _Entry:
    make: Callable  # (text, k) -> Strategy
    description: str
    k: str  # "none", "required" (name:K) or "optional" (name[:K])

    def syntax(self, name):
        return {"none": name, "required": name + ":K", "optional": name + "[:K]"}[self.k]


class StrategyRegistry:
    """Strategy names -> Strategy objects. ``parse`` is the one place a strategy's text is read."""

    def __init__(self):
        self._entries = {}

    def register(self, name, make, description, k="none"):
        """Add a strategy. ``make(text, k)`` returns its Strategy; ``k``: whether it takes ``:K``.

        A name that is already taken is refused (silently replacing a strategy would change results).
        """
        if name in self._entries:
            raise ValueError("strategy {!r} is already registered".format(name))
        if k not in ("none", "required", "optional"):
            raise ValueError("k must be 'none', 'required' or 'optional' (got {!r})".format(k))
        self._entries[name] = _Entry(make, description, k)
        return make

    def unregister(self, name):
        del self._entries[name]

    def names(self):
        """The syntax of every strategy, e.g. ['finetune', ..., 'partial:K', 'two-stage[:K]']."""
        return [entry.syntax(name) for name, entry in self._entries.items()]

    def describe(self):
        """(syntax, description) of every strategy, for help texts."""
        return [(entry.syntax(name), entry.description) for name, entry in self._entries.items()]

    def parse(self, text, model=DEFAULT_BACKBONE):
        """The Strategy for ``text`` (``finetune``, ``partial:2``...) on the backbone ``model``."""
        name, colon, k_text = str(text).partition(":")
        entry = self._entries.get(name)
        if entry is None or (colon and entry.k == "none") or (not colon and entry.k == "required"):
            raise ConfigError("strategy", "must be one of {} (got {!r})".format(", ".join(self.names()), text))
        k = _stage_count(text, k_text, model) if colon else None
        return entry.make(text, k)


def _stage_count(text, k_text, model):
    n_stages = len(get_backbone(model).stage_starts)
    k = int(k_text) if k_text.isdigit() else -1
    if not 1 <= k <= n_stages:
        raise ConfigError("strategy", "{}: K must be a whole number from 1 to {} (the stages of {})".format(
            text, n_stages, model))
    return k


def _init_from_imagenet_class(net, pretrained, imagenet_class):
    from .imagenet import init_output_from_class
    init_output_from_class(net, pretrained, imagenet_class)


STRATEGIES = StrategyRegistry()
STRATEGIES.register("finetune", lambda text, k: Strategy(text, pretrained=True),
                    "pretrained features + new output, everything learns (the chapter)")
STRATEGIES.register("scratch", lambda text, k: Strategy(text, pretrained=False),
                    "the same net from random weights (the chapter's baseline)")
STRATEGIES.register("frozen", lambda text, k: Strategy(text, pretrained=True, trainable_stages=0),
                    "only the new output learns; the backbone is frozen, BatchNorm statistics included")
STRATEGIES.register("partial", lambda text, k: Strategy(text, pretrained=True, trainable_stages=k),
                    "the last K residual stages of the backbone and the output learn", k="required")
STRATEGIES.register("hotdog-init", lambda text, k: Strategy(text, pretrained=True, init_output=_init_from_imagenet_class,
                                                            required_classes=CLASSES),
                    "like finetune, with the output started from ImageNet's own hotdog classifier")
STRATEGIES.register(
    "two-stage",
    lambda text, k: Strategy(text, pretrained=True, trainable_stages=0,
                             stage_plan=("frozen", "finetune" if k is None else "partial:{}".format(k))),
    "the output on the frozen backbone for half the epochs, then the whole backbone (or its last K stages) "
    "at a tenth of the learning rate", k="optional")
STRATEGIES.register("cached", lambda text, k: Strategy(text, pretrained=True, trainable_stages=0, on_features=True,
                                                       saved_as="frozen"),
                    "like frozen, but the backbone runs once over un-augmented images and only the output "
                    "trains on the stored features (epochs take milliseconds)")


def parse_strategy(text, model=DEFAULT_BACKBONE):
    """``STRATEGIES.parse``: the Strategy for a strategy's text."""
    return STRATEGIES.parse(text, model)


def build_net(strategy, model=DEFAULT_BACKBONE, **kwargs):
    """The net for a strategy given as text (``build_net("finetune", pretrained=net)``): parse, then build.
    ``kwargs`` go to ``Strategy.build``."""
    return parse_strategy(strategy, model).build(model=model, **kwargs)
