"""Commands that train: train, compare, bench."""
import json
import math
import os

from ..errors import ConfigError, ConfigErrors, HotdogError
from ..models.backbones import DEFAULT_BACKBONE
from . import options

# compare leaves these at None: the demo's own settings apply with --demo, the chapter's otherwise.
COMPARE_DEMO_DEFAULTS = {"epochs": 5, "batch_size": 32, "image_size": 48}  # = DemoSettings (tested)
COMPARE_CHAPTER_DEFAULTS = {"epochs": 5, "batch_size": 128, "image_size": 224}


def cmd_train(args):
    from ..train.devices import choose_contexts
    from ..train.distributed import HorovodCluster, connect
    from ..train.recipes import run_strategy
    config = options.config_from_args(args)
    if args.distributed == "horovod":
        if args.kvstore:
            raise HotdogError("--distributed horovod and --kvstore exclude each other")
        cluster = HorovodCluster()
        ctx = cluster.contexts()
    else:
        ctx = choose_contexts(args.gpus, args.cpu_contexts)
        cluster = connect(args.kvstore) if args.kvstore else None
    kvstore = args.kvstore if args.kvstore and not cluster else None
    result = run_strategy(config, args.out, ctx, pretrained=options.pretrained_loader(args, ctx), resume=args.resume,
                          quiet=args.quiet or bool(cluster and not cluster.is_root), kvstore=kvstore, cluster=cluster)
    if cluster:  # printed by every worker: equal fingerprints mean identical weights everywhere
        print("worker {} of {}: final weights sha1 {}".format(cluster.rank, cluster.num_workers,
                                                              result["fingerprint"]), flush=True)
    if not args.quiet and (cluster is None or cluster.is_root):
        best = result["best"]
        print("done: {}; lowest validation loss {:.4f} at epoch {} (test accuracy then {:.4f}, final {:.4f}); "
              "history in {}".format(result["model"], best["val_loss"], best["epoch"], best["test_acc"],
                                     result["history"][-1]["test_acc"], os.path.join(args.out, "history.csv")))


def cmd_compare(args):
    from ..experiments.compare import DEFAULT_STRATEGIES
    strategies = options.split_list(args.strategies) or list(DEFAULT_STRATEGIES)
    lrs = options.parse_lr_overrides(args.lr)
    seeds = options.parse_seeds(args.seeds) if args.seeds else None
    ctx = options.contexts(args)
    if args.demo:
        _compare_demo(args, strategies, lrs, ctx, seeds)
        return
    from ..data.folders import dataset_root
    from ..experiments.compare import compare
    try:
        dataset_root(args.data_dir)
    except HotdogError:  # no dataset yet: fetch the chapter's (verified, idempotent)
        from ..data.download import DownloadError, download_hotdog
        try:
            download_hotdog(data_dir=args.data_dir, quiet=args.quiet)
        except DownloadError as exc:
            raise DownloadError("{} Or see the whole comparison offline: hotdog compare --demo".format(exc)) from None
    chapter = {name: value for name, value in COMPARE_CHAPTER_DEFAULTS.items() if getattr(args, name) is None}
    base = options.config_from_args(args, strategy="finetune", lr=None, **chapter)
    compare(strategies, base, args.out, ctx, pretrained=options.pretrained_loader(args, ctx), lr_overrides=lrs,
            quiet=args.quiet, resume=args.resume, pretrained_note=args.pretrained_params or "Gluon model zoo (ImageNet)",
            seeds=seeds)


def _compare_demo(args, strategies, lrs, ctx, seeds):
    from dataclasses import fields

    from ..experiments.demo import demo_settings, run_demo
    from ..train.config import TrainConfig
    chosen = {k: getattr(args, k) for k in COMPARE_DEMO_DEFAULTS if getattr(args, k) is not None}
    settings = demo_settings(args.demo_size, model=args.model, seed=args.seed, **chosen)
    # The other training options apply to the demo's comparison as they would to a real one.
    own = ("strategy", "model", "data_dir", "lr", "seed", "imagenet_class") + tuple(COMPARE_DEMO_DEFAULTS)
    training = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name not in own}
    run_demo(args.out, ctx, strategies, settings, root=args.demo_root, lr_overrides=lrs, quiet=args.quiet,
             training=training, seeds=seeds)
    if args.demo_size == "tiny":  # its numbers are noise: say so where the reader's eyes end up
        print("--demo-size tiny checks that everything runs ({} training images per class): its numbers mean "
              "nothing. The lesson needs the standard demo: drop --demo-size.".format(settings.target_train))


def cmd_bench(args):
    sizes, variants = _bench_options(args)
    if args.inference:
        _bench_inference(args, sizes)
        return
    if args.demo:
        _bench_demo(args)
        return
    from ..experiments.bench import markdown_table, run_bench
    rows = run_bench(data_dir=args.data_dir, sizes=sizes, batch_size=args.batch_size, model=args.model,
                     variants=variants, n_train=args.n_train, n_test=args.n_test, contexts=options.contexts(args),
                     min_seconds=args.seconds, say=print, skip_bad_images=args.skip_bad_images,
                     small_images=args.small_images)
    _publish(markdown_table(rows), rows, args)


# `hotdog bench`'s own options and their defaults; --demo and --inference use only some of them (BENCH_USES).
BENCH_DEFAULTS = {"data_dir": None, "sizes": None, "batch_size": 64, "variants": "files:0,cache:0,cache:2",
                  "n_train": 200, "n_test": 80, "small_images": 200, "seconds": 8.0, "markdown": None,
                  "skip_bad_images": False, "demo_size": "standard", "model": DEFAULT_BACKBONE, "gpus": None,
                  "cpu_contexts": None}
BENCH_USES = {None: set(BENCH_DEFAULTS) - {"demo_size"},
              "--demo": {"demo_size", "seconds", "markdown", "model", "gpus", "cpu_contexts"},
              "--inference": {"sizes"}}
BENCH_MEASURES = {"--demo": "the offline demo, on data it generates",
                  "--inference": "resnet18_v2 on the CPU, batch 32"}


def _bench_options(args):
    """(sizes, variants) from the command line, with every wrong option named in one message, before anything
    is generated or measured: bad values, and options the chosen mode would silently ignore."""
    mode = "--inference" if args.inference else "--demo" if args.demo else None
    uses = BENCH_USES[mode]
    problems, sizes, variants = [], [], []
    for name in sorted(set(BENCH_DEFAULTS) - uses):
        if getattr(args, name) != BENCH_DEFAULTS[name]:
            problems.append(ConfigError(name, "is used only with --demo" if name == "demo_size" else
                                        "is not used by {} ({}): drop it".format(mode, BENCH_MEASURES[mode])))
    if args.inference and args.demo:
        problems.append(ConfigError("demo", "and --inference are two different benchmarks: choose one"))
    if "sizes" in uses:
        text = args.sizes or ("224" if args.inference else "224,64")
        for item in options.split_list(text):
            if not item.isdecimal():
                problems.append(ConfigError("sizes", "takes image sizes in pixels separated by commas, e.g. 224,64 "
                                                     "(got {!r})".format(text)))
                break
            if int(item) < 1:
                problems.append(ConfigError("sizes", "must be at least 1 pixel (got {})".format(item)))
                break
            sizes.append(int(item))
        if not sizes and not problems:
            problems.append(ConfigError("sizes", "needs at least one image size, e.g. 224,64"))
    if "variants" in uses:
        for item in options.split_list(args.variants):
            cache, _, workers = (part.strip() for part in item.partition(":"))
            if cache not in ("cache", "files") or not workers.isdecimal():
                problems.append(ConfigError("variants", "takes cache:N or files:N items, e.g. "
                                                        "files:0,cache:0,cache:2 (got {!r})".format(item)))
                break
            variants.append((cache == "cache", int(workers)))
        if not variants and not problems:
            problems.append(ConfigError("variants", "needs at least one item, e.g. cache:0"))
    for name in ("batch_size", "n_train", "n_test"):
        if name in uses and getattr(args, name) < 1:
            problems.append(ConfigError(name, "must be at least 1 (got {})".format(getattr(args, name))))
    if "small_images" in uses and (args.small_images < 4 or args.small_images % 2):
        problems.append(ConfigError("small_images", "must be an even number, at least 4: half of the images are of "
                                                    "each class (got {})".format(args.small_images)))
    if "seconds" in uses and not (math.isfinite(args.seconds) and args.seconds > 0):
        problems.append(ConfigError("seconds", "must be a number of seconds more than 0 (got {})".format(args.seconds)))
    ConfigErrors.raise_if_any(problems)
    return sizes, variants


def _publish(table, figures, args):
    """Print a benchmark's table; write it as --markdown and every figure as --json (atomically)."""
    from .._io import atomic_write_bytes
    print("\n" + table)
    if args.markdown:
        atomic_write_bytes(args.markdown, (table + "\n").encode("utf-8"))
    if args.json:
        atomic_write_bytes(args.json, json.dumps(figures, indent=2).encode("utf-8"))


def _bench_demo(args):
    """The offline demo from an empty cache, phase by phase, against the ceilings of its batch sizes."""
    import tempfile

    from ..experiments.bench import demo_phases, demo_table
    from ..experiments.demo import demo_settings
    settings = demo_settings(args.demo_size, model=args.model)
    with tempfile.TemporaryDirectory(prefix="hotdog-bench-demo-out-") as out:
        report = demo_phases(settings, options.contexts(args), out, min_seconds=args.seconds / 2, say=print)
    _publish(demo_table(report), report, args)


def _bench_inference(args, sizes):
    """The three inference engines (MXNet float32, MXNet int8, onnxruntime) on one net, in one run."""
    from .._io import atomic_write_bytes
    from ..models.export import benchmark_inference, cpu_int8_support
    cpu = cpu_int8_support()
    if cpu:
        print("CPU: {} (int8 gains most with VNNI)".format(cpu))
    runs = []
    for size in sizes:
        print("resnet18_v2 inference at {} px, batch 32, uint8 images in, probabilities out ({} cores, "
              "OMP_NUM_THREADS={}):".format(size, os.cpu_count(), os.environ.get("OMP_NUM_THREADS")))
        speeds = benchmark_inference(image_size=size, batch_size=32, rounds=3, iterations=5,
                                     with_onnx=_onnxruntime_installed(), report=print)
        runs.append({"image_size": size, "images_per_sec": speeds})
    if args.json:  # every size (it used to keep only the last)
        atomic_write_bytes(args.json, json.dumps({"cpu": cpu, "runs": runs}, indent=2).encode())


def _onnxruntime_installed():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("onnxruntime is not installed (pip install 'hotdog-finetune[onnx]'): its column is left out")
        return False
    return True


def add_commands(sub):
    p = sub.add_parser(
        "train", help="train one strategy (fine-tune, scratch, frozen...)",
        description="Train the net with one strategy on all GPUs (or the CPU), with a history, checkpoints "
                    "after every epoch, and a model that `hotdog predict` can use.",
        epilog=options.strategy_epilog())
    options.add_config_options(p)
    options.add_pretrained_params(p)
    options.add_devices(p)
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
    options.add_quiet(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "compare", help="the chapter's comparison: fine-tune vs scratch (and other strategies)",
        description="Train several strategies side by side and write OUT/results.json, results.md, curves.png, "
                    "samples.png, attention.png (Grad-CAM) and report.html (all of it on one page). By default: "
                    "the chapter's data (downloaded if missing) and the ImageNet resnet18_v2, finetune (lr 0.01) "
                    "vs scratch (lr 0.1), 5 epochs, batch 128, all GPUs.",
        epilog="--demo needs no network and no files: it generates a synthetic hotdog set and a synthetic "
               "source task, pretrains on the source (cached in --demo-root) and compares at 48 px; a few "
               "minutes on a 2-core CPU. " + options.strategy_epilog())
    p.add_argument("--strategies", metavar="LIST", help="comma-separated strategies; default: finetune,scratch")
    demo_note = {name: " (--demo: {})".format(value) for name, value in COMPARE_DEMO_DEFAULTS.items()}
    options.add_config_options(p, exclude=("strategy", "lr"), defaults={name: None for name in COMPARE_DEMO_DEFAULTS},
                               help_suffix=demo_note)
    p.add_argument("--seeds", metavar="LIST",
                   help="run every strategy once per seed, e.g. 0,1,2, and report the mean and standard deviation "
                        "of the test accuracy (the paired test uses the first seed); default: --seed")
    p.add_argument("--lr", metavar="STRATEGY=LR,...",
                   help="per-strategy learning rates, e.g. finetune=0.02,scratch=0.2; default: 0.01 for "
                        "pretrained strategies (two-stage: 0.01 then 0.001), 0.1 for scratch")
    options.add_pretrained_params(p)
    options.add_devices(p)
    p.add_argument("--out", default=os.path.join("runs", "compare"), metavar="DIR",
                   help="output folder, one subfolder per strategy; default: %(default)s")
    p.add_argument("--resume", action="store_true", help="continue each strategy from its last checkpoint")
    p.add_argument("--demo", action="store_true", help="offline demo on synthetic data (no network, no files)")
    options.add_demo_size(p)
    p.add_argument("--demo-root", metavar="DIR",
                   help="where the demo keeps its generated data and source-pretrained weights; default: DATA_DIR/demo, "
                        "with DATA_DIR $HOTDOG_DATA_DIR or ./data")
    options.add_quiet(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "bench", help="measure training speed against the compute ceiling of this machine",
        description="In one run: the net's train/eval images/s on in-memory batches (the ceiling), the input "
                    "pipeline alone, and the real training loop end to end for each variant, each reported as a "
                    "ratio of the ceiling; a small generated folder trained for two epochs through the real "
                    "`train` (against ceilings measured right around its last epoch), `predict` on its image "
                    "files; plus peak memory. Without --data-dir a synthetic set is generated.")
    p.add_argument("--data-dir", metavar="DIR", help="dataset to measure on; default: a generated synthetic set")
    p.add_argument("--inference", action="store_true",
                   help="instead: inference speed of MXNet float32, MXNet int8 and onnxruntime, batch 32, as "
                        "ratios of float32 in one run (at 224 px unless --sizes is given)")
    p.add_argument("--demo", action="store_true",
                   help="instead: the offline demo (`compare --demo`) from an empty cache, timed whole and phase by "
                        "phase against the ceilings of its own batch sizes and optimizers")
    options.add_demo_size(p, when="with --demo: ")
    p.add_argument("--sizes", default=BENCH_DEFAULTS["sizes"],
                   help="image sizes, e.g. 224,64; default: 224,64 (with --inference: 224)")
    p.add_argument("--batch-size", type=int, default=BENCH_DEFAULTS["batch_size"], help="default: %(default)s")
    p.add_argument("--variants", default=BENCH_DEFAULTS["variants"], metavar="LIST",
                   help="input pipelines to measure: files:N (decode every epoch) or cache:N (decode-once cache), "
                        "N data-loader workers; default: %(default)s")
    p.add_argument("--n-train", type=int, default=BENCH_DEFAULTS["n_train"],
                   help="generated training images per class; default: %(default)s")
    p.add_argument("--n-test", type=int, default=BENCH_DEFAULTS["n_test"],
                   help="generated test images per class; default: %(default)s")
    p.add_argument("--small-images", type=int, default=BENCH_DEFAULTS["small_images"], metavar="N",
                   help="training images (an even number, half per class) of the generated small folder that the "
                        "small-run row trains on for two epochs (a user's own folder is often this small); "
                        "default: %(default)s")
    p.add_argument("--seconds", type=float, default=BENCH_DEFAULTS["seconds"],
                   help="minimum timing per ceiling measurement; default: %(default)s")
    p.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    p.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    options.add_skip_bad_images(p)
    options.add_model(p, pretrained=False)
    options.add_devices(p)
    p.set_defaults(func=cmd_bench)
