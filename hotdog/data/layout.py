"""What an image folder looks like, the label order used everywhere, and the chapter's data defaults.

``ROOT/{train,test}/{CLASS}/*.{png,jpg,jpeg}``. Gluon's ``ImageFolderDataset`` numbers the class
folders in sorted order. For the chapter's data the labels are ``hotdog`` = 0 and ``not-hotdog`` = 1: use
``CLASSES`` and ``HOTDOG_LABEL`` rather than the numbers. Any other folder works too: its classes are the
sorted folder names of ``train/`` (``discover_classes``), and ``test/`` must have the same ones.
"""
import os

from ..errors import HotdogError

# Where `hotdog download` puts the data, the demo its generated sets, and every command looks for them:
# $HOTDOG_DATA_DIR if set (as MXNET_HOME moves Gluon's model store), else the chapter's data/ next to
# where the user works.
DATA_DIR_ENV = "HOTDOG_DATA_DIR"
CHAPTER_DATA_DIR = "data"
DEFAULT_IMAGE_SIZE = 224  # the chapter's crop
CLASSES = ("hotdog", "not-hotdog")  # sorted, as ImageFolderDataset labels them
HOTDOG_LABEL = CLASSES.index("hotdog")
NOT_HOTDOG_LABEL = CLASSES.index("not-hotdog")
SPLITS = ("train", "test")
# A dataset may bring its own validation images; otherwise they are taken from train/ (split.py).
VAL_FOLDERS = ("val", "valid")
# The extensions ImageFolderDataset reads by default.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


class LayoutError(HotdogError):
    """The folder does not have the split/class layout."""


def default_data_dir():
    """$HOTDOG_DATA_DIR, or data/ under the current folder. Read at each call, so a change is seen."""
    return os.environ.get(DATA_DIR_ENV) or CHAPTER_DATA_DIR


def is_image_file(name):
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def discover_classes(root, split="train"):
    """The sorted class folder names of ``root/split`` (the labels ImageFolderDataset will give)."""
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        raise LayoutError("{} does not have the expected layout:\n  - missing folder {}/".format(root, split))
    names = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and not d.startswith("."))
    if len(names) < 2:
        raise LayoutError("{}/{}/ needs at least two class folders (found: {})".format(
            root, split, ", ".join(names) or "none"))
    return tuple(names)


def val_folder(root):
    """The name of ``root``'s validation folder (val/ or valid/), or None."""
    return next((name for name in VAL_FOLDERS if os.path.isdir(os.path.join(root, name))), None)


def validate_layout(root, splits=SPLITS, classes=None):
    """Check ``root`` and return ``{split: {class: number of images}}``.

    ``classes``: the class folders expected; None means those of ``train/`` (every split must have them).
    Every problem is listed in one LayoutError: missing or empty folders, and class folders that
    would shift the labels.
    """
    problems = []
    counts = {}
    if not os.path.isdir(root):
        raise LayoutError("{} is not a folder; expected {}/{{{}}}/<one folder per class>/".format(
            root, root, ",".join(splits)))
    if classes is None:
        classes = discover_classes(root)
    for split in splits:
        split_dir = os.path.join(root, split)
        if not os.path.isdir(split_dir):
            problems.append("missing folder {}/".format(split))
            continue
        extra = sorted(d for d in os.listdir(split_dir)  # hidden folders (.cache) are not classes
                       if os.path.isdir(os.path.join(split_dir, d)) and d not in classes and not d.startswith("."))
        if extra:
            problems.append("unexpected class folder(s) in {}/: {} (expected only {})".format(
                split, ", ".join(extra), ", ".join(classes)))
        counts[split] = {}
        for cls in classes:
            cls_dir = os.path.join(split_dir, cls)
            if not os.path.isdir(cls_dir):
                problems.append("missing folder {}/{}/".format(split, cls))
                continue
            names = os.listdir(cls_dir)
            n_images = sum(1 for n in names if is_image_file(n))
            if n_images == 0:
                problems.append("{}/{}/ has no image files ({} other entries; images are {})".format(
                    split, cls, len(names), ", ".join(IMAGE_EXTENSIONS)))
            counts[split][cls] = n_images
    if problems:
        raise LayoutError("{} does not have the expected layout:\n  - {}".format(root, "\n  - ".join(problems)))
    return counts
