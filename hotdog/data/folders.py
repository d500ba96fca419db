"""Image folders as datasets: where a dataset's ``train/`` and ``test/`` are, its classes, one split.

Labels are the sorted class folder names (``layout.CLASSES`` for the chapter's data: hotdog = 0,
not-hotdog = 1; any other folder: ``dataset_classes``). Images are decoded with ``images.decode_image``:
upright from EXIF, any mode to RGB, a broken file named at once (not later, inside MXNet's engine).
"""
import os

import mxnet as mx
from mxnet.gluon.data import Dataset

from ..errors import HotdogError
from .images import decode_image
from .layout import discover_classes, is_image_file, validate_layout


class ImageFolder(Dataset):
    """``root/<class>/*.{jpg,jpeg,png}`` as (HxWx3 uint8 NDArray, label) items.

    The same listing as Gluon's ``ImageFolderDataset`` (sorted class folders, sorted file names, the same
    extensions), with three differences: images are decoded carefully (see the module docstring), hidden
    folders are not classes, and other files are skipped without a warning each (``hotdog check`` lists
    them). ``exclude``: files to leave out (``--skip-bad-images``).
    """

    def __init__(self, root, exclude=()):
        excluded = {os.path.abspath(path) for path in exclude}
        self.synsets, self.items = [], []
        for folder in sorted(os.listdir(root)):
            path = os.path.join(root, folder)
            if folder.startswith(".") or not os.path.isdir(path):
                continue
            label = len(self.synsets)
            self.synsets.append(folder)
            for name in sorted(os.listdir(path)):
                file = os.path.join(path, name)
                if is_image_file(name) and os.path.isfile(file) and os.path.abspath(file) not in excluded:
                    self.items.append((file, label))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        path, label = self.items[idx]
        return mx.nd.array(decode_image(path), dtype="uint8"), label


def dataset_root(data_dir):
    """The folder holding ``train/`` and ``test/``: ``DATA_DIR/hotdog`` (as downloaded) or ``DATA_DIR`` itself."""
    for candidate in (os.path.join(data_dir, "hotdog"), data_dir):
        if os.path.isdir(os.path.join(candidate, "train")):
            return candidate
    raise HotdogError("no dataset in {}: expected {}/hotdog/train/ (run `hotdog download --data-dir {}`) or "
                      "{}/train/ and {}/test/ with one folder per class.".format(
                          data_dir, data_dir, data_dir, data_dir, data_dir))


def dataset_classes(data_dir):
    """The class names of a dataset, in label order (the sorted folder names of its train/)."""
    return discover_classes(dataset_root(data_dir))


def load_split(data_dir, split, classes=None, exclude=()):
    """The raw (untransformed) ImageFolder of one split, after checking the layout.

    ``classes``: the class folders expected; None: those of the dataset's train/ folder. ``exclude``:
    image files to leave out.
    """
    root = dataset_root(data_dir)
    classes = tuple(classes) if classes else discover_classes(root)
    validate_layout(root, splits=(split,), classes=classes)
    dataset = ImageFolder(os.path.join(root, split), exclude)
    if tuple(dataset.synsets) != tuple(classes):
        raise HotdogError("{} has classes {}, expected {}".format(split, dataset.synsets, list(classes)))
    return dataset
