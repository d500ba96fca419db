"""``TrainConfig``: every setting of a training run, with its default, its help and its rules, in one place.

The command line is made from these fields (``cli.options``): each field's metadata gives its help text,
and optionally its flag, metavar, choices and how to parse the text typed after the flag. ``resume``
marks the settings a resumed run must share with the run it continues. This module imports no MXNet, so
``hotdog train --help`` is instant.
"""
import math
import numbers
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import List, Optional

from ..data.layout import DATA_DIR_ENV, DEFAULT_IMAGE_SIZE, default_data_dir
from ..errors import ConfigError, ConfigErrors
from ..models.backbones import BACKBONES, DEFAULT_BACKBONE
from ..models.strategies import STRATEGIES

# The chapter: 0.01 when starting from pretrained weights, 0.1 from scratch.
PRETRAINED_LR, SCRATCH_LR = 0.01, 0.1
LR_SCHEDULES = ("constant", "step", "cosine")
CLASS_WEIGHTS = ("none", "balanced")


def _int_list(text):
    """'3,4' -> [3, 4] (the --lr-steps syntax)."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError("lr_steps", "takes epoch numbers separated by commas, e.g. 3,4 (got {!r})".format(text)) from None


def _on_off(text):
    if text not in ("on", "off"):
        raise ConfigError("cache", "takes on or off (got {!r})".format(text))
    return text == "on"


def _crop_scale(text):
    """'0.08,1' -> [0.08, 1.0] (the --crop-scale syntax)."""
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        values = None
    if not values or len(values) != 2:
        raise ConfigError("crop_scale", "takes the smallest and largest share of the image, e.g. 0.08,1 (got {!r})".format(
            text))
    return values


def setting(default, help, resume=False, **cli):
    """A TrainConfig field. ``cli``: flag, metavar, choices, parse (text -> value). A bool becomes a switch:
    ``--name`` turns a default-False setting on; a default-True one needs ``flag="--no-name"``."""
    metadata = dict(help=help, resume=resume, **cli)
    if callable(default):  # read when a config is made (e.g. an environment variable)
        return field(default_factory=default, metadata=metadata)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved in config.json and the checkpoints.

    Invalid values raise ``ConfigError`` naming the parameter, before anything is trained.
    """
    strategy: str = setting("finetune", "what learns: {strategies}; default: %(default)s", resume=True, metavar="NAME")
    model: str = setting(DEFAULT_BACKBONE, "backbone from the Gluon model zoo; default: %(default)s", resume=True,
                         choices=tuple(BACKBONES))
    data_dir: str = setting(default_data_dir, "folder holding the dataset: DIR/hotdog/{train,test}/... (the "
                            "chapter's) or DIR/{train,test}/<class>/ (your own, any class names); default: $" +
                            DATA_DIR_ENV + " or ./data (now: %(default)s)", metavar="DIR")
    epochs: int = setting(5, "default: %(default)s, the chapter")
    batch_size: int = setting(128, "global batch, split across devices; default: %(default)s", resume=True)
    lr: Optional[float] = setting(None, "learning rate; default: {} for pretrained strategies, {} for scratch".format(
        PRETRAINED_LR, SCRATCH_LR))
    wd: float = setting(0.001, "weight decay; default: %(default)s", resume=True)
    momentum: float = setting(0.0, "SGD momentum; default: %(default)s (the chapter)", resume=True)
    optimizer: str = setting("sgd", "any MXNet optimizer name (sgd, nag, adam...); default: %(default)s", resume=True)
    image_size: int = setting(DEFAULT_IMAGE_SIZE, "training crop size; default: %(default)s", resume=True, metavar="S")
    workers: int = setting(0, "data-loading worker processes (0 = in the main process); default: %(default)s")
    seed: int = setting(0, "random seed; default: %(default)s", resume=True)
    lr_schedule: str = setting("constant", "default: %(default)s", resume=True, choices=LR_SCHEDULES)
    lr_steps: List[int] = setting([], "for --lr-schedule step: epochs after which the lr is multiplied by "
                                  "--lr-factor, e.g. 3,4; default: half and three quarters of --epochs",
                                  resume=True, metavar="EPOCHS", parse=_int_list)
    lr_factor: float = setting(0.1, "step schedule factor; default: %(default)s", resume=True)
    warmup_epochs: float = setting(0.0, "linear learning-rate warmup from 0 over this many epochs; default: "
                                   "%(default)s", resume=True)
    patience: Optional[int] = setting(None, "stop when the validation loss has not improved for N epochs; keep "
                                      "the weights of the epoch with the lowest validation loss", metavar="N")
    output_lr_mult: float = setting(1.0, "learning-rate multiplier of the new output layer (later book editions: "
                                    "10); default: %(default)s", resume=True)
    imagenet_class: str = setting("hotdog", "ImageNet class whose weights hotdog-init reuses; default: %(default)s "
                                  "(row 934; the book says 713)", resume=True, metavar="NAME|ROW")
    # On by default: measured with `hotdog bench`, it lifts training from 0.58 to 0.84 of the compute
    # ceiling at 64 px and 0.87 to 0.93 at 224 px (docs/PERFORMANCE.md).
    cache: bool = setting(True, "decode and resize every image once into <dataset>/.cache and train from it (same "
                          "augmentations, test tensors identical, much faster at small sizes); default: on",
                          metavar="on|off", parse=_on_off)
    augment: bool = setting(True, "train on test-transformed images (no random crops or flips)", resume=True,
                            flag="--no-augment")
    crop_scale: List[float] = setting(
        [0.08, 1.0], "the training crops' share of the image area, smallest,largest (RandomResizedCrop's scale); "
        "default: 0.08,1 (the chapter)", resume=True, metavar="MIN,MAX", parse=_crop_scale)
    # 0.1: the chapter's train/ (2,000 images) keeps 1,800 for training; its test/ is untouched, so its
    # numbers stay comparable, and every other folder gets a validation split too.
    val_fraction: float = setting(0.1, "share of train/ held out, per class, to choose the best epoch and stop "
                                  "early (never the test set); a val/ or valid/ folder is used instead when the "
                                  "dataset has one; default: %(default)s", resume=True, metavar="F")
    class_weight: str = setting("none", "balanced: weight the loss by inverse class frequency (for imbalanced "
                                "folders); default: %(default)s", resume=True, choices=CLASS_WEIGHTS)
    skip_bad_images: bool = setting(False, "leave unreadable images out (one warning line; the list goes to "
                                    "OUT/skipped-images.txt) instead of refusing to train; see `hotdog check`")

    def __post_init__(self):
        problems = []
        # Parsed once here; the loop reads `strategy_spec` and never the text.
        try:
            self.strategy_spec = STRATEGIES.parse(self.strategy, self.model)
        except ConfigError as exc:
            problems.append(exc)
            self.strategy_spec = None
        if self.lr is None and self.strategy_spec is not None:
            self.lr = default_lr(self.strategy_spec)
        if self.strategy_spec is not None and not (
                isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            problems.append(ConfigError("lr", "must be a positive number (got {})".format(self.lr)))
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(ConfigError("lr_schedule", "must be one of {} (got {!r})".format(
                ", ".join(LR_SCHEDULES), self.lr_schedule)))
        for name in ("epochs", "batch_size", "image_size") + (("patience",) if self.patience is not None else ()):
            problems += self._whole_number(name, minimum=1)
        if not (isinstance(self.val_fraction, (int, float)) and 0 < self.val_fraction < 1):
            problems.append(ConfigError("val_fraction", "must be between 0 and 1 (got {}); 0.1 to 0.2 is usual".format(
                self.val_fraction)))
        try:
            if isinstance(self.crop_scale, (str, bytes)):  # "0.3" would otherwise read as the digits 0, 3
                raise TypeError("text, not two numbers")
            self.crop_scale = [float(x) for x in self.crop_scale]  # a tuple and its JSON list compare equal
            valid_scale = len(self.crop_scale) == 2 and 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1
        except (TypeError, ValueError):
            valid_scale = False
        if not valid_scale:
            problems.append(ConfigError("crop_scale", "needs two shares of the image area, 0 < smallest <= largest "
                                        "<= 1 (got {})".format(self.crop_scale)))
        if self.class_weight not in CLASS_WEIGHTS:
            problems.append(ConfigError("class_weight", "must be one of {} (got {!r})".format(
                ", ".join(CLASS_WEIGHTS), self.class_weight)))
        problems += self._whole_number("workers", minimum=0)
        ConfigErrors.raise_if_any(problems)

    def _whole_number(self, name, minimum):
        """[] if setting ``name`` is a whole number of at least ``minimum`` (kept as a plain int: numpy's
        cannot be written to config.json), else its one problem. From Python, "3" or 2.5 would otherwise fail
        deep inside training, or compare as text."""
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return [ConfigError(name, "must be a whole number (got {!r})".format(value))]
        if value < minimum:
            return [ConfigError(name, "must be {} (got {})".format("at least 1" if minimum == 1 else "0 or more",
                                                                   value))]
        setattr(self, name, int(value))
        return []

    def to_dict(self):
        """The settings as saved in config.json and checkpoints (the parsed strategy is not a field)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def default_lr(strategy):
    """The chapter's learning rate for a Strategy: 0.01 from pretrained weights, 0.1 from scratch."""
    return PRETRAINED_LR if strategy.pretrained else SCRATCH_LR


def resume_keys():
    """The settings a resumed run must share with the run it continues (the rest, e.g. epochs, may change).

    ``lr`` may change too, for the constant schedule: the way out of a diverged run.
    """
    return tuple(f.name for f in fields(TrainConfig) if f.metadata.get("resume"))


def field_default(f):
    return f.default_factory() if f.default is MISSING else f.default
