"""The ``hotdog`` command line: one subcommand per job, each a thin layer over the package.

Heavy imports (MXNet) happen inside the subcommands so that ``hotdog --help`` and ``hotdog download``
start fast.
"""
import argparse
import logging
import os
import sys

from . import __version__
from .errors import HotdogError

DATA_DIR_HELP = ("folder holding the dataset: DIR/hotdog/{train,test}/... (the chapter's) or DIR/{train,test}/<class>/ "
                 "(your own, any class names); default: %(default)s")


def _add_data_dir(parser):
    from .download import DEFAULT_DATA_DIR
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR", help=DATA_DIR_HELP)


def _add_quiet(parser):
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info messages")


def _add_model_args(parser, pretrained=True):
    from .models import BACKBONES, DEFAULT_BACKBONE
    parser.add_argument("--model", default=DEFAULT_BACKBONE, choices=list(BACKBONES),
                        help="backbone from the Gluon model zoo; default: %(default)s")
    if pretrained:
        parser.add_argument("--pretrained-params", metavar="FILE",
                            help="1000-class ImageNet weights to use instead of the model zoo's "
                                 "(air-gapped machines; e.g. resnet18_v2-a81db45f.params)")


def _add_device_args(parser):
    parser.add_argument("--gpus", metavar="IDS", help="GPUs to use, e.g. 0,2; default: all GPUs, or the CPU")
    parser.add_argument("--cpu-contexts", type=int, metavar="N",
                        help="train data-parallel on N CPU contexts (no GPU needed)")


def _add_eval_args(parser):
    parser.add_argument("--image-size", type=int, default=224, metavar="S", help="crop size; default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch; default: %(default)s")
    parser.add_argument("--workers", type=int, default=0,
                        help="data-loading worker processes (0 = in the main process); default: %(default)s")


def cmd_zeroshot(args):
    from .devices import choose_contexts, describe
    from .imagenet import zeroshot
    from .models import pretrained_net
    ctx = choose_contexts(args.gpus, args.cpu_contexts)
    net = pretrained_net(args.model, args.pretrained_params, ctx)
    net.hybridize()
    report = zeroshot(net, args.data_dir, image_size=args.image_size, batch_size=args.batch_size, ctx=ctx,
                      imagenet_class=args.imagenet_class, threshold=args.threshold, num_workers=args.workers,
                      split=args.split)
    print("zero-shot {} on the {} split ({} images, {}): ImageNet class {} '{}', rule: {}".format(
        args.model, args.split, report["n"], describe(ctx), report["imagenet_class"],
        report["imagenet_class_name"], report["rule"]))
    print("accuracy  {:.4f}\nprecision {:.4f}\nrecall    {:.4f}".format(
        report["accuracy"], report["precision"], report["recall"]))


def _lr_steps(args):
    return [int(x) for x in args.lr_steps.split(",") if x.strip()] if args.lr_steps else []


def _train_config(args, strategy):
    from .training import TrainConfig
    return TrainConfig(
        strategy=strategy, model=args.model, data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, wd=args.wd, momentum=args.momentum, optimizer=args.optimizer, image_size=args.image_size,
        workers=args.workers, seed=args.seed, lr_schedule=args.lr_schedule,
        lr_steps=_lr_steps(args),
        lr_factor=args.lr_factor, warmup_epochs=args.warmup_epochs, patience=args.patience,
        output_lr_mult=args.output_lr_mult, imagenet_class=args.imagenet_class, cache=args.cache == "on",
        augment=not args.no_augment)


def cmd_train(args):
    from .checkpoint import CHECKPOINT_DIR, STATE_FILE
    from .devices import choose_contexts
    from .models import pretrained_net
    from .strategies import parse_strategy
    from .distributed import HorovodCluster, connect
    from .training import run_strategy
    config = _train_config(args, args.strategy)
    if args.distributed == "horovod":
        if args.kvstore:
            raise HotdogError("--distributed horovod and --kvstore exclude each other")
        cluster = HorovodCluster()
        ctx = cluster.contexts()
    else:
        ctx = choose_contexts(args.gpus, args.cpu_contexts)
        cluster = connect(args.kvstore) if args.kvstore else None
    if cluster and not cluster.is_root:
        args.quiet = True  # one worker speaks for all
    resuming = args.resume and any(os.path.exists(os.path.join(args.out, sub, CHECKPOINT_DIR, STATE_FILE))
                                   for sub in ("", "stage1"))  # stage1: a two-stage run
    strategy = parse_strategy(config.strategy, config.model)
    # A resumed run reloads its own weights, except `cached`, whose checkpoints hold only the output layer.
    needs_pretrained = strategy.pretrained and (not resuming or strategy.cached)
    pretrained = pretrained_net(config.model, args.pretrained_params, ctx) if needs_pretrained else None
    kvstore = args.kvstore if args.kvstore and not cluster else None
    result = run_strategy(config, args.out, ctx, pretrained=pretrained, resume=args.resume, quiet=args.quiet,
                          kvstore=kvstore, cluster=cluster)
    if not args.quiet:
        best = result["best"]
        print("done: {} (best test accuracy {:.4f} at epoch {}); history in {}".format(
            result["model"], best["test_acc"], best["epoch"], os.path.join(args.out, "history.csv")))


def cmd_predict(args):
    from .devices import choose_contexts
    from .predict import predict_images
    results = predict_images(args.images, args.model_dir, choose_contexts(args.gpus, args.cpu_contexts))
    failed = 0
    for r in results:
        if "error" in r:
            failed += 1
            print("{}\terror: {} ({})".format(r["path"], r["error"], r["detail"]), file=sys.stderr)
        else:
            print("{}\t{}\t{:.4f}".format(r["path"], r["label"], r["probability"]))
    if failed:
        raise HotdogError("{} of {} file(s) could not be read as images".format(failed, len(results)))


def cmd_evaluate(args):
    from .devices import choose_contexts
    from .predict import evaluate_model
    report = evaluate_model(args.model_dir, choose_contexts(args.gpus, args.cpu_contexts), data_dir=args.data_dir,
                            batch_size=args.batch_size, num_workers=args.workers, split=args.split)
    classes = report["classes"]
    print("{} images in the {} split".format(report["n"], args.split))
    print("accuracy  {:.4f}\nprecision {:.4f}\nrecall    {:.4f}   ({} is the positive class)".format(
        report["accuracy"], report["precision"], report["recall"], classes[0]))
    width = max(len(c) for c in classes) + 2
    if len(classes) > 2:
        print("per class".ljust(width) + "precision".rjust(11) + "recall".rjust(9))
        for cls, figures in zip(classes, report["per_class"]):
            print(cls.ljust(width) + "{:11.4f}{:9.4f}".format(figures["precision"], figures["recall"]))
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * width + "".join(c.rjust(width) for c in classes))
    for cls, row in zip(classes, report["confusion"]):
        print(cls.ljust(width) + "".join(str(v).rjust(width) for v in row))


def _add_training_args(parser, compare=False):
    from .training import LR_SCHEDULES
    demo = " (--demo: {})" if compare else ""
    parser.add_argument("--epochs", type=int, default=None if compare else 5,
                        help="default: 5, the chapter" + demo.format(5))
    parser.add_argument("--batch-size", type=int, default=None if compare else 128,
                        help="global batch, split across devices; default: 128" + demo.format(16))
    if compare:
        parser.add_argument("--lr", metavar="STRATEGY=LR,...",
                            help="per-strategy learning rates, e.g. finetune=0.02,scratch=0.2; default: 0.01 for "
                                 "pretrained strategies (two-stage: 0.01 then 0.001), 0.1 for scratch")
    else:
        parser.add_argument("--lr", type=float, help="learning rate; default: 0.01 for pretrained strategies, 0.1 for scratch")
    parser.add_argument("--wd", type=float, default=0.001, help="weight decay; default: %(default)s")
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum; default: %(default)s (the chapter)")
    parser.add_argument("--optimizer", default="sgd", help="any MXNet optimizer name (sgd, nag, adam...); default: %(default)s")
    parser.add_argument("--image-size", type=int, default=None if compare else 224, metavar="S",
                        help="training crop size; default: 224" + demo.format(48))
    parser.add_argument("--workers", type=int, default=0,
                        help="data-loading worker processes (0 = in the main process); default: %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="random seed; default: %(default)s")
    parser.add_argument("--lr-schedule", default="constant", choices=LR_SCHEDULES, help="default: %(default)s")
    parser.add_argument("--lr-steps", metavar="EPOCHS",
                        help="for --lr-schedule step: epochs after which the lr is multiplied by --lr-factor, "
                             "e.g. 3,4; default: half and three quarters of --epochs")
    parser.add_argument("--lr-factor", type=float, default=0.1, help="step schedule factor; default: %(default)s")
    parser.add_argument("--warmup-epochs", type=float, default=0.0,
                        help="linear learning-rate warmup from 0 over this many epochs; default: %(default)s")
    parser.add_argument("--patience", type=int, metavar="N",
                        help="stop when the test loss has not improved for N epochs; keep the best epoch's weights")
    parser.add_argument("--output-lr-mult", type=float, default=1.0,
                        help="learning-rate multiplier of the new output layer (later book editions: 10); default: %(default)s")
    parser.add_argument("--imagenet-class", default="hotdog", metavar="NAME|ROW",
                        help="ImageNet class whose weights hotdog-init reuses; default: %(default)s (row 934; the book says 713)")
    parser.add_argument("--cache", default="on", choices=["on", "off"],
                        help="decode and resize every image once into <dataset>/.cache and train from it (same "
                             "augmentations, test tensors identical, much faster at small sizes); default: %(default)s")
    parser.add_argument("--no-augment", action="store_true",
                        help="train on test-transformed images (no random crops or flips)")


def cmd_compare(args):
    from .compare import DEFAULT_STRATEGIES, compare, parse_lr_overrides
    from .devices import choose_contexts
    strategies = [x.strip() for x in args.strategies.split(",") if x.strip()] if args.strategies else list(DEFAULT_STRATEGIES)
    lrs = parse_lr_overrides(args.lr)
    ctx = choose_contexts(args.gpus, args.cpu_contexts)
    if args.demo:
        from dataclasses import replace

        from .demo import SMOKE_SETTINGS, DemoSettings, run_demo
        settings = DemoSettings(model=args.model, seed=args.seed)
        if args.demo_size == "tiny":
            settings = replace(settings, **SMOKE_SETTINGS)
        overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                       ("image_size", args.image_size)) if v is not None}
        # The other training options apply to the demo's comparison as they would to a real one.
        training = {k: getattr(args, k) for k in ("wd", "momentum", "optimizer", "workers", "lr_schedule",
                                                  "lr_factor", "warmup_epochs", "patience", "output_lr_mult")}
        training.update(cache=args.cache == "on", augment=not args.no_augment)
        training["lr_steps"] = _lr_steps(args)
        run_demo(args.out, ctx, strategies, replace(settings, **overrides), root=args.demo_root,
                 lr_overrides=lrs, quiet=args.quiet, training=training)
        return
    from .data import dataset_root
    from .models import pretrained_net
    from .strategies import parse_strategy
    try:
        dataset_root(args.data_dir)
    except HotdogError:  # no dataset yet: fetch the chapter's (verified, idempotent)
        from .download import DownloadError, download_hotdog
        try:
            download_hotdog(data_dir=args.data_dir, quiet=args.quiet)
        except DownloadError as exc:
            raise DownloadError("{} Or see the whole comparison offline: hotdog compare --demo".format(exc)) from None
    args.epochs = 5 if args.epochs is None else args.epochs
    args.batch_size = 128 if args.batch_size is None else args.batch_size
    args.image_size = 224 if args.image_size is None else args.image_size
    args.lr = None
    base = _train_config(args, "finetune")
    needs_pretrained = any(parse_strategy(name, args.model).pretrained for name in strategies)
    pretrained = pretrained_net(args.model, args.pretrained_params, ctx) if needs_pretrained else None
    compare(strategies, base, args.out, ctx, pretrained=pretrained, lr_overrides=lrs, quiet=args.quiet,
            resume=args.resume, pretrained_note=args.pretrained_params or "Gluon model zoo (ImageNet)")


def cmd_bench(args):
    import json

    from .bench import markdown_table, run_bench
    from .checkpoint import atomic_write_bytes
    from .devices import choose_contexts
    variants = []
    for item in args.variants.split(","):
        cache, _, workers = item.strip().partition(":")
        if cache not in ("cache", "files") or not workers.isdigit():
            raise HotdogError("--variants takes cache:N or files:N items, e.g. files:0,cache:0,cache:2 (got {!r})".format(item))
        variants.append((cache == "cache", int(workers)))
    rows = run_bench(data_dir=args.data_dir, sizes=[int(x) for x in args.sizes.split(",")], batch_size=args.batch_size,
                     model=args.model, variants=variants, n_train=args.n_train, n_test=args.n_test,
                     contexts=choose_contexts(args.gpus, args.cpu_contexts), min_seconds=args.seconds)
    table = markdown_table(rows)
    print("\n" + table)
    if args.markdown:
        atomic_write_bytes(args.markdown, (table + "\n").encode("utf-8"))
    if args.json:
        atomic_write_bytes(args.json, json.dumps(rows, indent=2).encode("utf-8"))


def cmd_download(args):
    from .download import download_hotdog
    download_hotdog(data_dir=args.data_dir, url=args.url, sha1=args.sha1, zip_file=args.zip, force=args.force,
                    retries=args.retries, timeout=args.timeout, quiet=args.quiet)


def cmd_show(args):
    from .plots import save_data_samples
    out = save_data_samples(args.data_dir, args.out, n=args.n)
    if not args.quiet:
        print("wrote {}".format(out))


def cmd_synth(args):
    import os

    from .synthetic import make_synthetic_hotdog
    root = os.path.join(args.data_dir, "hotdog")
    if os.path.exists(root):
        raise HotdogError("{} already exists; choose another --data-dir or remove it first".format(root))
    sha1 = make_synthetic_hotdog(root, n_train=args.train, n_test=args.test, seed=args.seed,
                                 zip_path=args.zip)
    if not args.quiet:
        print("wrote a synthetic dataset to {}{}".format(root, " and {} (sha1 {})".format(args.zip, sha1)
                                                          if args.zip else ""))


def build_parser():
    from .download import DEFAULT_SHA1, DEFAULT_URL, URL_ENV

    parser = argparse.ArgumentParser(
        prog="hotdog",
        description="Fine-tuning vs training from scratch on hotdog / not-hotdog (D2L 'Fine-Tuning'), "
                    "with MXNet Gluon.")
    parser.add_argument("--version", action="version", version="hotdog " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "download", help="download, verify and extract hotdog.zip",
        description="Download hotdog.zip (or use one on disk), verify its sha1, and extract it safely to "
                    "DATA_DIR/hotdog. Running it again once the data is verified does nothing.",
        epilog="Mirror: set {} to the full URL of a copy of hotdog.zip (--url wins over it). "
               "Offline: --zip FILE.".format(URL_ENV))
    _add_data_dir(p)
    p.add_argument("--url", help="where to fetch hotdog.zip; default: ${} or {}".format(URL_ENV, DEFAULT_URL))
    p.add_argument("--sha1", default=DEFAULT_SHA1, metavar="HEX", help="expected sha1 of the zip; default: %(default)s")
    p.add_argument("--zip", metavar="FILE", help="use this zip already on disk instead of downloading")
    p.add_argument("--force", action="store_true", help="re-extract even if DATA_DIR/hotdog exists")
    p.add_argument("--retries", type=int, default=3, help="retries after a transient network failure; default: %(default)s")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="network timeout for connecting and for each read; default: %(default)s")
    _add_quiet(p)
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("show", help="save the chapter's 2x8 grid of training images",
                       description="The first N hotdog and the last N not-hotdog training images, as a PNG.")
    _add_data_dir(p)
    p.add_argument("--out", default="samples.png", metavar="FILE.png", help="output image; default: %(default)s")
    p.add_argument("-n", type=int, default=8, help="images per row; default: %(default)s")
    _add_quiet(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("synth", help="write a synthetic dataset in the real layout (offline tries, tests)",
                       description="Generate DATA_DIR/hotdog with synthetic hotdog / not-hotdog PNGs, "
                                   "deterministic by --seed. The images are drawings, not photos.")
    _add_data_dir(p)
    p.add_argument("--train", type=int, default=100, help="training images per class; default: %(default)s")
    p.add_argument("--test", type=int, default=40, help="test images per class; default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="random seed; default: %(default)s")
    p.add_argument("--zip", metavar="FILE", help="also write the dataset as a zip in the real archive's layout")
    _add_quiet(p)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "zeroshot", help="use the untouched ImageNet net as a hotdog detector",
        description="Evaluate the 1000-class pretrained net on hotdog / not-hotdog without training: an "
                    "image is 'hotdog' when ImageNet's hotdog class wins the argmax (or passes --threshold).",
        epilog="The book's exercise uses row 713, which is 'photocopier' in ImageNet-1k; 'hotdog' is 934. "
               "Pass --imagenet-class 713 to reproduce the book verbatim.")
    _add_data_dir(p)
    _add_model_args(p)
    _add_eval_args(p)
    _add_device_args(p)
    p.add_argument("--imagenet-class", default="hotdog", metavar="NAME|ROW",
                   help="ImageNet class: a name, a synset or a row number; default: %(default)s (row 934)")
    p.add_argument("--threshold", type=float, metavar="P",
                   help="call it hotdog when that class's probability is at least P (default: when it wins the argmax)")
    p.add_argument("--split", default="test", choices=["train", "test"], help="default: %(default)s")
    p.set_defaults(func=cmd_zeroshot)

    p = sub.add_parser(
        "train", help="train one strategy (fine-tune, scratch, frozen...)",
        description="Train the 2-class net with one strategy on all GPUs (or the CPU), with a history, "
                    "checkpoints after every epoch, and a model that `hotdog predict` can use.",
        epilog="Strategies: finetune (pretrained features + new output, all learn), scratch (random init), "
               "frozen (only the new output learns), partial:K (the last K stages and the output learn), "
               "hotdog-init (finetune with the output started from ImageNet's hotdog row), two-stage[:K] (train "
               "the output on the frozen backbone for half the epochs, then unfreeze all of it, or its last K "
               "stages, at a tenth of the learning rate), cached (frozen, but the backbone runs once over "
               "un-augmented images and only the output trains on the stored features: epochs take "
               "milliseconds).")
    p.add_argument("--strategy", default="finetune", metavar="NAME",
                   help="finetune, scratch, frozen, partial:K, hotdog-init, two-stage[:K] or cached; default: %(default)s")
    _add_data_dir(p)
    _add_model_args(p)
    _add_training_args(p)
    _add_device_args(p)
    p.add_argument("--out", default=os.path.join("runs", "train"), metavar="DIR",
                   help="output folder (history, checkpoints, model); default: %(default)s")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--kvstore", choices=["device", "local", "dist_sync", "dist_device_sync"],
                   help="how gradients are combined: device or local on one machine (default: device on GPUs, "
                        "local on CPU contexts); dist_sync or dist_device_sync across machines, reading the "
                        "DMLC_* environment (docs/DISTRIBUTED.md). --batch-size is then the global batch.")
    p.add_argument("--distributed", choices=["horovod"],
                   help="train with Horovod (start with horovodrun; one device per process); --batch-size is "
                        "the global batch")
    _add_quiet(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "compare", help="the chapter's comparison: fine-tune vs scratch (and other strategies)",
        description="Train several strategies side by side and write OUT/results.json, results.md, curves.png "
                    "and samples.png. By default: the chapter's data (downloaded if missing) and the ImageNet "
                    "resnet18_v2, finetune (lr 0.01) vs scratch (lr 0.1), 5 epochs, batch 128, all GPUs.",
        epilog="--demo needs no network and no files: it generates a synthetic hotdog set and a synthetic "
               "source task, pretrains on the source (cached in --demo-root) and compares at 48 px; a few "
               "minutes on a 2-core CPU. Strategies: finetune, scratch, frozen, partial:K, hotdog-init, "
               "two-stage[:K] (see `hotdog train --help`).")
    p.add_argument("--strategies", metavar="LIST", help="comma-separated strategies; default: finetune,scratch")
    _add_data_dir(p)
    _add_model_args(p)
    _add_training_args(p, compare=True)
    _add_device_args(p)
    p.add_argument("--out", default=os.path.join("runs", "compare"), metavar="DIR",
                   help="output folder, one subfolder per strategy; default: %(default)s")
    p.add_argument("--resume", action="store_true", help="continue each strategy from its last checkpoint")
    p.add_argument("--demo", action="store_true", help="offline demo on synthetic data (no network, no files)")
    p.add_argument("--demo-size", default="standard", choices=["standard", "tiny"],
                   help="tiny: a seconds-long smoke run of the demo (too small to show anything); default: %(default)s")
    p.add_argument("--demo-root", default=os.path.join("data", "demo"), metavar="DIR",
                   help="where the demo keeps its generated data and source-pretrained weights; default: %(default)s")
    _add_quiet(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "bench", help="measure training speed against the compute ceiling of this machine",
        description="In one run: the net's train/eval images/s on in-memory batches (the ceiling), the input "
                    "pipeline alone, and the real training loop end to end for each variant, each reported as a "
                    "ratio of the ceiling; plus peak memory. Without --data-dir a synthetic set is generated.")
    p.add_argument("--data-dir", metavar="DIR", help="dataset to measure on; default: a generated synthetic set")
    p.add_argument("--sizes", default="224,64", help="image sizes; default: %(default)s")
    p.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    p.add_argument("--variants", default="files:0,cache:0,cache:2", metavar="LIST",
                   help="input pipelines to measure: files:N (decode every epoch) or cache:N (decode-once cache), "
                        "N data-loader workers; default: %(default)s")
    p.add_argument("--n-train", type=int, default=200, help="generated training images per class; default: %(default)s")
    p.add_argument("--n-test", type=int, default=80, help="generated test images per class; default: %(default)s")
    p.add_argument("--seconds", type=float, default=8.0, help="minimum timing per ceiling measurement; default: %(default)s")
    p.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    p.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    _add_model_args(p, pretrained=False)
    _add_device_args(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("predict", help="classify images with a trained model",
                       description="Print each image's label and probability, preprocessed like the test split.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--model-dir", required=True, metavar="DIR", help="a `hotdog train` output folder")
    _add_device_args(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="accuracy, precision, recall and confusion matrix of a trained model")
    p.add_argument("--model-dir", required=True, metavar="DIR", help="a `hotdog train` output folder")
    p.add_argument("--data-dir", metavar="DIR", help="dataset to evaluate on; default: the one it was trained on")
    p.add_argument("--split", default="test", choices=["train", "test"], help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    p.add_argument("--workers", type=int, default=0, help="data-loading worker processes; default: %(default)s")
    _add_device_args(p)
    p.set_defaults(func=cmd_evaluate)
    return parser


class _Formatter(logging.Formatter):
    """Info lines as plain text; warnings and errors prefixed with their level."""

    def format(self, record):
        message = record.getMessage()
        return message if record.levelno <= logging.INFO else "{}: {}".format(record.levelname.lower(), message)


def main(argv=None):
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        handlers=[handler])
    try:
        args.func(args)
    except HotdogError as exc:
        print("error: {}".format(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
