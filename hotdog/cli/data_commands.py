"""Commands about the data: download, show, synth."""
import os

from ..errors import HotdogError
from . import options


def cmd_download(args):
    from ..data.download import download_hotdog
    download_hotdog(data_dir=args.data_dir, url=args.url, sha1=args.sha1, zip_file=args.zip, force=args.force,
                    retries=args.retries, timeout=args.timeout, quiet=args.quiet)


def cmd_show(args):
    from ..experiments.plots import save_data_samples
    out = save_data_samples(args.data_dir, args.out, n=args.n)
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

    p = sub.add_parser("show", help="save the chapter's 2x8 grid of training images",
                       description="The first N hotdog and the last N not-hotdog training images, as a PNG.")
    options.add_data_dir(p)
    p.add_argument("--out", default="samples.png", metavar="FILE.png", help="output image; default: %(default)s")
    p.add_argument("-n", type=int, default=8, help="images per row; default: %(default)s")
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
