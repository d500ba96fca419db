"""Command-line options: the training options made from ``TrainConfig``'s fields, the options several
commands share, and the command-line syntaxes that are not Python values (``STRATEGY=LR,...``).

Nothing here imports MXNet: ``hotdog --help`` must be instant.
"""
import argparse
from dataclasses import fields

from ..errors import ConfigError, HotdogError
from ..models.strategies import STRATEGIES
from ..train.config import TrainConfig, field_default


def flag_of(f):
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_config_options(parser, exclude=(), defaults=None, help_suffix=None):
    """One option per TrainConfig field (but ``exclude``), with the field's help, default and rules.

    ``defaults``: {field: value} replacing the config's default on this command (compare leaves some at
    None, to be filled by the demo's settings or the chapter's); ``help_suffix``: {field: text} appended
    to a field's help.
    """
    defaults, help_suffix = defaults or {}, help_suffix or {}
    for f in fields(TrainConfig):
        if f.name in exclude:
            continue
        meta = f.metadata
        help_text = meta["help"].replace("{strategies}", ", ".join(STRATEGIES.names())) + help_suffix.get(f.name, "")
        default = defaults.get(f.name, field_default(f))
        kwargs = dict(dest=f.name, help=help_text)
        if f.type in (bool, "bool") and not meta.get("parse"):  # a switch: --x turns it on, a --no-x flag turns it off
            parser.add_argument(flag_of(f), action="store_false" if field_default(f) else "store_true",
                                default=default, **kwargs)
            continue
        if "metavar" in meta:
            kwargs["metavar"] = meta["metavar"]
        if meta.get("parse"):  # text that is not a Python literal: --lr-steps 3,4, --cache off
            kwargs["type"] = _parser(meta["parse"])
        else:
            kwargs["type"] = _scalar_type(f)
            if "choices" in meta:
                kwargs["choices"] = list(meta["choices"])
        if "%(default)s" in help_text and default is None:  # left unset here, filled in later (compare)
            shown = field_default(f)  # the config's own default is what applies outside the demo
            kwargs["help"] = (help_text.replace("; default: %(default)s", "") if shown is None
                              else help_text.replace("%(default)s", str(shown)))
        parser.add_argument(flag_of(f), default=default, **kwargs)


def _scalar_type(f):
    text = str(f.type)
    if "float" in text:
        return float
    if "int" in text:
        return int
    return str


def _parser(parse):
    def convert(text):
        try:
            return parse(text)
        except ConfigError as exc:  # argparse then says: argument --flag: <problem>
            raise argparse.ArgumentTypeError(exc.problem) from None
    return convert


def config_from_args(args, **overrides):
    """A TrainConfig from parsed options; ``overrides`` win."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values.update(overrides)
    return TrainConfig(**values)


def flag_for(parser, param):
    """The option string a parser gives a Python parameter (``epochs`` -> ``--epochs``), or the name."""
    for action in parser._actions:
        if action.dest == param and action.option_strings:
            return max(action.option_strings, key=len)
    return param


def add_data_dir(parser, default=None):
    f = next(f for f in fields(TrainConfig) if f.name == "data_dir")
    parser.add_argument("--data-dir", default=default or field_default(f), metavar="DIR", help=f.metadata["help"])


def add_quiet(parser):
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info messages")


def add_model(parser, pretrained=True):
    from ..models.backbones import BACKBONES, DEFAULT_BACKBONE
    parser.add_argument("--model", default=DEFAULT_BACKBONE, choices=list(BACKBONES),
                        help="backbone from the Gluon model zoo; default: %(default)s")
    if pretrained:
        add_pretrained_params(parser)


# The demo's sizes; experiments.demo.DEMO_SIZES is the same tuple (kept here so that building the parser
# does not import MXNet; a test checks they agree).
DEMO_SIZES = ("standard", "tiny")


def add_demo_size(parser, when=""):
    parser.add_argument("--demo-size", default="standard", choices=DEMO_SIZES,
                        help=when + "tiny is a seconds-long smoke run of the demo (too small to show anything); "
                                    "default: %(default)s")


def add_pretrained_params(parser):
    parser.add_argument("--pretrained-params", metavar="FILE",
                        help="1000-class ImageNet weights to use instead of the model zoo's "
                             "(air-gapped machines; e.g. resnet18_v2-a81db45f.params)")


def add_devices(parser):
    parser.add_argument("--gpus", metavar="IDS", help="GPUs to use, e.g. 0,2; default: all GPUs, or the CPU")
    parser.add_argument("--cpu-contexts", type=int, metavar="N",
                        help="train data-parallel on N CPU contexts (no GPU needed)")


def add_eval_options(parser):
    parser.add_argument("--image-size", type=int, default=224, metavar="S", help="crop size; default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch; default: %(default)s")
    parser.add_argument("--workers", type=int, default=0,
                        help="data-loading worker processes (0 = in the main process); default: %(default)s")


def parse_lr_overrides(text):
    """compare's --lr: 'finetune=0.02,scratch=0.2' -> {'finetune': 0.02, 'scratch': 0.2}."""
    overrides = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise HotdogError("--lr takes STRATEGY=LR pairs separated by commas, e.g. finetune=0.02,scratch=0.2 "
                              "(got {!r})".format(item))
    return overrides


def split_list(text):
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def contexts(args):
    from ..train.devices import choose_contexts
    return choose_contexts(args.gpus, args.cpu_contexts)


def add_skip_bad_images(parser):
    parser.add_argument("--skip-bad-images", action="store_true",
                        help="leave unreadable images out (one warning line) instead of refusing; see `hotdog check`")


def parse_seeds(text):
    """compare's --seeds: '0,1,2' -> [0, 1, 2]."""
    try:
        seeds = [int(x) for x in split_list(text)]
    except ValueError:
        seeds = None
    if not seeds or any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise HotdogError("--seeds takes different whole numbers of 0 or more separated by commas, e.g. 0,1,2 "
                          "(got {!r})".format(text))
    return seeds


def pretrained_loader(args, ctx):
    """A function that loads the pretrained net (--model, --pretrained-params), called by the library only
    if a run needs it (a resumed run reloads its own weights)."""
    from ..models.zoo import pretrained_net
    return lambda: pretrained_net(args.model, args.pretrained_params, ctx)


def strategy_epilog():
    """Every registered strategy with its description, for a command's --help."""
    return "Strategies: " + "; ".join("{} ({})".format(name, text) for name, text in STRATEGIES.describe()) + "."
