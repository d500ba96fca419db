"""The chapter's data pipelines: ImageFolderDatasets, transforms and DataLoaders.

Train: ``RandomResizedCrop(S)``, ``RandomFlipLeftRight``, ``ToTensor``, ``Normalize(ImageNet mean/std)``.
Test: ``Resize(round(S*256/224))``, ``CenterCrop(S)``, ``ToTensor``, the same ``Normalize``.
``Resize`` with one number squashes the image to a square, exactly as the chapter does (both its MXNet
and PyTorch editions); it does not keep the aspect ratio.
Labels are the sorted class folder names (``layout.CLASSES`` for the chapter's data: hotdog = 0,
not-hotdog = 1; any other folder: ``dataset_classes``).
"""
import logging
import os

import mxnet as mx
from mxnet.gluon.data import DataLoader
from mxnet.gluon.data.vision import ImageFolderDataset, transforms

from .errors import HotdogError, mxnet_error_summary
from .layout import discover_classes, validate_layout

log = logging.getLogger(__name__)

# ImageNet statistics: the pretrained backbone saw inputs normalised this way.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
DEFAULT_IMAGE_SIZE = 224


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


def resize_size(image_size):
    """The test-time resize that goes with a crop of ``image_size`` (256 for 224)."""
    return int(round(image_size * 256 / 224))


# RandomResizedCrop's default area range: a crop covers 8% to 100% of the image.
CHAPTER_CROP_SCALE = (0.08, 1.0)


def train_transform(image_size=DEFAULT_IMAGE_SIZE, crop_scale=CHAPTER_CROP_SCALE):
    return transforms.Compose([
        transforms.RandomResizedCrop(image_size, scale=tuple(crop_scale)),
        transforms.RandomFlipLeftRight(),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])


def test_transform(image_size=DEFAULT_IMAGE_SIZE):
    return transforms.Compose([
        transforms.Resize(resize_size(image_size)),
        transforms.CenterCrop(image_size),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])


def tensor_transform():
    """The test transform's last two steps: what remains for test images read from the cache."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


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


def load_datasets(data_dir, image_size=DEFAULT_IMAGE_SIZE, classes=None, crop_scale=CHAPTER_CROP_SCALE,
                  cache=False, augment=True, quiet=False):
    """Train and test datasets with the chapter's transforms applied to the images.

    ``cache``: read decoded images from the decode-once cache (cache.py) instead of the files.
    ``augment=False``: the training set gets the test transform (feature extraction without augmentation).
    """
    if cache:
        from .cache import cached_split
        try:
            train_raw, _ = cached_split(data_dir, "train", image_size, classes, quiet)
            test_raw, _ = cached_split(data_dir, "test", image_size, classes, quiet)
        except OSError as exc:  # e.g. a read-only dataset folder: the files still work, only slower
            log.warning("decode-once cache unavailable (%s); reading the image files every epoch", exc)
            cache = False
    if not cache:
        train_raw, test_raw = load_split(data_dir, "train", classes), load_split(data_dir, "test", classes)
    train_tf = train_transform(image_size, crop_scale) if augment else test_transform(image_size)
    # Cached test images are already resized and centre-cropped (see cache.py).
    test_tf = tensor_transform() if cache else test_transform(image_size)
    return train_raw.transform_first(train_tf), test_raw.transform_first(test_tf)


def make_loader(dataset, batch_size, shuffle=False, num_workers=0, last_batch="keep", sampler=None):
    """A DataLoader. ``last_batch``: 'keep' (a smaller final batch), 'discard' or 'rollover'.
    ``sampler``: which indices to visit (e.g. a distributed worker's shard) instead of ``shuffle``."""
    if sampler is not None:
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                          last_batch=last_batch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      last_batch=last_batch)


def make_loaders(data_dir, batch_size, image_size=DEFAULT_IMAGE_SIZE, num_workers=0, classes=None):
    """The chapter's pair: a shuffled train loader and an ordered test loader, both keeping every image."""
    train, test = load_datasets(data_dir, image_size, classes)
    return (make_loader(train, batch_size, shuffle=True, num_workers=num_workers),
            make_loader(test, batch_size, shuffle=False, num_workers=num_workers))
