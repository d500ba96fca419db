"""Image folders as datasets: where a dataset's ``train/`` and ``test/`` are, its classes, one split.

Labels are the sorted class folder names (``layout.CLASSES`` for the chapter's data: hotdog = 0,
not-hotdog = 1; any other folder: ``dataset_classes``).
"""
import os

import mxnet as mx
from mxnet.gluon.data.vision import ImageFolderDataset

from ..errors import HotdogError, mxnet_error_summary
from .layout import discover_classes, validate_layout


class UnreadableImageError(HotdogError):
    """An image file in the dataset cannot be decoded."""


class ImageFolder(ImageFolderDataset):
    """``ImageFolderDataset`` whose decode errors name the file instead of an MXNet stack trace."""

    def __getitem__(self, idx):
        try:
            return super().__getitem__(idx)
        except mx.base.MXNetError as exc:
            raise UnreadableImageError("cannot decode image {} ({}). Remove or replace the file.".format(
                self.items[idx][0], mxnet_error_summary(exc))) from None


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


def load_split(data_dir, split, classes=None):
    """The raw (untransformed) ImageFolder of one split, after checking the layout.

    ``classes``: the class folders expected; None: those of the dataset's train/ folder.
    """
    root = dataset_root(data_dir)
    classes = tuple(classes) if classes else discover_classes(root)
    validate_layout(root, splits=(split,), classes=classes)
    dataset = ImageFolder(os.path.join(root, split))
    if tuple(dataset.synsets) != tuple(classes):
        raise HotdogError("{} has classes {}, expected {}".format(split, dataset.synsets, list(classes)))
    return dataset
