"""The lr-find command: the learning-rate range test, before a run, on the training images."""
import os
import sys

from ..errors import HotdogError
from ..train.lr_range import (
    DEFAULT_END_LR,
    DEFAULT_ITERATIONS,
    DEFAULT_START_LR,
    DIVERGENCE_FACTOR,
    METHODS,
    MIN_FALL,
    SMOOTHING,
    SUGGESTED_METHOD,
    UNUSED_SETTINGS,
    WHY_MINIMUM,
)
from . import options

DESCRIPTION = (
    "The learning-rate range test (Leslie Smith; fastai's lr_find): build the strategy's net as `hotdog train` "
    "would, train it on the TRAINING images only for --iterations mini-batches with the learning rate rising "
    "exponentially from --start-lr to --end-lr (cycling through the images if there are fewer batches), and "
    "record the loss. It stops early once the smoothed loss is {:g} times its minimum or not a number. The net "
    "is then thrown away: no model is written, and nothing in the dataset changes but its decode-once cache. "
    "Writes OUT/lr_find.json (rates, losses, smoothed losses, both readings, settings) and OUT/lr_find.png."
).format(DIVERGENCE_FACTOR)
EPILOG = (
    "How the rate is suggested: the losses are smoothed (exponential moving average, beta {beta:g}, with bias "
    "correction, as fastai). The suggestion is {minimum}: {minimum_how}. Also reported: steepest, {steepest}. "
    "Why the first: {why}. No suggestion (exit status 1, both files still written) when the smoothed loss was "
    "lowest within a decade of --start-lr, or fell by less than {min_fall:.0%}: the error says which. "
    "The rates are for Gluon's per-example MEAN loss (trainer.step(batch_size) divides the summed gradient "
    "by the batch size), like --lr of `hotdog train`; the chapter's PyTorch edition sums the loss over the "
    "batch, hence its 5e-5: a summed-loss rate times the batch size is the rate here (5e-5 x 128 = 0.0064). "
    "two-stage: the test runs its first stage (frozen backbone). cached: the output layer is tested on the "
    "stored features, as it trains. ").format(
        minimum=SUGGESTED_METHOD, minimum_how=METHODS[SUGGESTED_METHOD], steepest=METHODS["steepest"],
        why=WHY_MINIMUM, beta=SMOOTHING, min_fall=MIN_FALL)


def cmd_lr_find(args):
    from ..experiments.lr_plot import save_lr_find
    from ..train.lr_find import lr_find
    config = options.config_from_args(args)
    ctx = options.contexts(args)
    result = lr_find(config, ctx, pretrained=options.pretrained_loader(args, ctx), start_lr=args.start_lr,
                     end_lr=args.end_lr, iterations=args.iterations, quiet=args.quiet)
    json_path, png_path = save_lr_find(result, args.out)
    if result["suggested_lr"] is None:
        raise HotdogError("no learning rate to suggest: {}. The curve is in {}".format("; ".join(result["notes"]),
                                                                                      png_path))
    for note in result["notes"]:  # a suggestion with a caveat: said even with -q
        print("warning: {}".format(note), file=sys.stderr)
    print("suggested learning rate: {:.3g} ({}: {})".format(
        result["suggested_lr"], SUGGESTED_METHOD, METHODS[SUGGESTED_METHOD]))
    if not args.quiet:
        print(_summary(result, json_path, png_path))


def _summary(result, json_path, png_path):
    steepest = result["suggestions"]["steepest"]
    stop = result["stop"]
    lines = [
        "  lowest smoothed loss at {:.3g} ({:.0%} below its start); steepest descent at {}".format(
            result["min_loss_lr"], result["fall"], "{:.3g}".format(steepest) if steepest is not None else "none"),
        "  {} steps on {} training images, batch {}; {}".format(
            len(result["lrs"]), result["train_images"], result["settings"]["batch_size"],
            "ran to the end of the range" if stop["reason"] == "end of range" else
            "stopped at {:.3g} (loss {})".format(stop["lr"], stop["reason"])),
        "  for the per-example mean loss: use it as `hotdog train --strategy {} --lr {:.3g}`".format(
            result["strategy"], result["suggested_lr"]),
        "  wrote {} and {}".format(json_path, png_path),
    ]
    return "\n".join(lines)


def add_commands(sub):
    p = sub.add_parser("lr-find", help="suggest a learning rate: the range test, on the training images",
                       description=DESCRIPTION, epilog=EPILOG + options.strategy_epilog())
    options.add_config_options(p, exclude=UNUSED_SETTINGS)
    p.add_argument("--start-lr", type=float, default=DEFAULT_START_LR, metavar="LR",
                   help="first learning rate; default: %(default)g")
    p.add_argument("--end-lr", type=float, default=DEFAULT_END_LR, metavar="LR",
                   help="last learning rate, if the loss has not blown up before; default: %(default)g")
    p.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, metavar="N",
                   help="mini-batches, one learning rate each; default: %(default)s")
    options.add_pretrained_params(p)
    options.add_devices(p)
    p.add_argument("--out", default=os.path.join("runs", "lr-find"), metavar="DIR",
                   help="output folder for lr_find.json and lr_find.png; default: %(default)s")
    options.add_quiet(p)
    p.set_defaults(func=cmd_lr_find)
