"""Commands about the data: download, show, synth."""
import os

from ..errors import HotdogError
from . import options


def cmd_download(args):
    from ..data.download import download_hotdog
    download_hotdog(data_dir=args.data_dir, url=args.url, sha1=args.sha1, zip_file=args.zip, force=args.force,
                    retries=args.retries, timeout=args.timeout, quiet=args.quiet)


def cmd_check(args):
    import json

    from .._io import atomic_write_bytes
    from ..data.cache import cache_folders, prune_stale_caches
    from ..data.check import check_dataset, format_report
    from ..data.folders import dataset_root
    root = dataset_root(args.data_dir)
    report = check_dataset(root, image_size=args.image_size, max_pixels=args.max_pixels)
    caches = cache_folders(root)
    report["cache"] = {"folders": len(caches), "bytes": sum(c["bytes"] for c in caches)}
    if args.prune_cache:
        removed = prune_stale_caches(args.data_dir)
        report["cache"]["pruned"] = {"folders": len(removed), "bytes": sum(size for _, size in removed)}
    if args.json == "-":
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
        cache = report["cache"]
        print("decode-once cache: {} folder(s), {:.1f} MB{}".format(cache["folders"], cache["bytes"] / 1e6, (
            "; removed {} stale folder(s), {:.1f} MB".format(cache["pruned"]["folders"], cache["pruned"]["bytes"] / 1e6)
            if "pruned" in cache else "")))
        if args.json:
            atomic_write_bytes(args.json, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    return 0 if report["ok"] else 1


def cmd_show(args):
    from ..experiments.plots import save_data_samples
    out = save_data_samples(args.data_dir, args.out, n=args.n, skip_bad_images=args.skip_bad_images)
    if not args.quiet:
        print("wrote {}".format(out))


def cmd_synth(args):
    from ..data.synthetic import make_synthetic_hotdog
    root = os.path.join(args.data_dir, "hotdog")
    if os.path.exists(root):
        raise HotdogError("{} already exists; choose another --data-dir or remove it first".format(root))
    sha1 = make_synthetic_hotdog(root, n_train=args.train, n_test=args.test, seed=args.seed, zip_path=args.zip)
    if not args.quiet:
        print("wrote a synthetic dataset to {}{}".format(root, " and {} (sha1 {})".format(args.zip, sha1)
                                                          if args.zip else ""))


def add_commands(sub):
    from ..data.download import DEFAULT_SHA1, DEFAULT_URL, URL_ENV

    p = sub.add_parser(
        "download", help="download, verify and extract hotdog.zip",
        description="Download hotdog.zip (or use one on disk), verify its sha1, and extract it safely to "
                    "DATA_DIR/hotdog. Running it again once the data is verified does nothing.",
        epilog="Mirror: set {} to the full URL of a copy of hotdog.zip (--url wins over it). "
               "Offline: --zip FILE.".format(URL_ENV))
    options.add_data_dir(p)
    p.add_argument("--url", help="where to fetch hotdog.zip; default: ${} or {}".format(URL_ENV, DEFAULT_URL))
    p.add_argument("--sha1", default=DEFAULT_SHA1, metavar="HEX", help="expected sha1 of the zip; default: %(default)s")
    p.add_argument("--zip", metavar="FILE", help="use this zip already on disk instead of downloading")
    p.add_argument("--force", action="store_true", help="re-extract even if DATA_DIR/hotdog exists")
    p.add_argument("--retries", type=int, default=3, help="retries after a transient network failure; default: %(default)s")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="network timeout for connecting and for each read; default: %(default)s")
    options.add_quiet(p)
    p.set_defaults(func=cmd_download)

    from ..data.images import DEFAULT_MAX_PIXELS
    p = sub.add_parser(
        "check", help="find every problem of an image folder at once (unreadable files, duplicates...)",
        description="Read every image the way training will (fully decoded, EXIF orientation applied) and "
                    "report everything at once: unreadable files (empty, not an image, truncated, corrupt), "
                    "images over the pixel limit (decompression bombs: refused, not decoded), files that are "
                    "not read, images smaller than the crop, converted modes, EXIF-rotated photos, exact "
                    "duplicates within a split and across train/test, class counts and imbalance. Exit "
                    "status 0 when training can proceed, 1 otherwise. An unchanged folder is checked again "
                    "without opening any image (remembered in <dataset>/.cache).",
        epilog="train, compare, evaluate and show run the same check first and refuse with the whole list "
               "(or, with --skip-bad-images, leave the unreadable images out).")
    options.add_data_dir(p)
    p.add_argument("--image-size", type=int, default=224, metavar="S",
                   help="the training crop: smaller images are reported; default: %(default)s")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="larger images are refused without being decoded; default: %(default)s")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE (- : only JSON, on stdout)")
    p.add_argument("--prune-cache", action="store_true",
                   help="remove decode-once cache folders that the current files no longer use")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("show", help="save the chapter's 2x8 grid of training images",
                       description="The first N hotdog and the last N not-hotdog training images, as a PNG.")
    options.add_data_dir(p)
    p.add_argument("--out", default="samples.png", metavar="FILE.png", help="output image; default: %(default)s")
    p.add_argument("-n", type=int, default=8, help="images per row; default: %(default)s")
    options.add_skip_bad_images(p)
    options.add_quiet(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("synth", help="write a synthetic dataset in the real layout (offline tries, tests)",
                       description="Generate DATA_DIR/hotdog with synthetic hotdog / not-hotdog PNGs, "
                                   "deterministic by --seed. The images are drawings, not photos.")
    options.add_data_dir(p)
    p.add_argument("--train", type=int, default=100, help="training images per class; default: %(default)s")
    p.add_argument("--test", type=int, default=40, help="test images per class; default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="random seed; default: %(default)s")
    p.add_argument("--zip", metavar="FILE", help="also write the dataset as a zip in the real archive's layout")
    options.add_quiet(p)
    p.set_defaults(func=cmd_synth)
