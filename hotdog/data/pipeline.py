"""The chapter's data pipelines: transformed datasets and DataLoaders, from the files or the cache."""
import logging

from mxnet.gluon.data import DataLoader

from .cache import cached_split
from .folders import load_split
from .layout import DEFAULT_IMAGE_SIZE
from .transforms import (
    CHAPTER_CROP_SCALE,
    tensor_transform,
    test_transform,
    train_transform,
)

log = logging.getLogger(__name__)


def load_datasets(data_dir, image_size=DEFAULT_IMAGE_SIZE, classes=None, crop_scale=CHAPTER_CROP_SCALE,
                  cache=False, augment=True, quiet=False, exclude=()):
    """Train and test datasets with the chapter's transforms applied to the images.

    ``cache``: read decoded images from the decode-once cache (cache.py) instead of the files.
    ``augment=False``: the training set gets the test transform (feature extraction without augmentation).
    ``exclude``: image files to leave out (``check.require_usable`` with ``skip_bad_images``).
    """
    if cache:
        try:
            train_raw, _ = cached_split(data_dir, "train", image_size, classes, quiet, exclude)
            test_raw, _ = cached_split(data_dir, "test", image_size, classes, quiet, exclude)
        except OSError as exc:  # e.g. a read-only dataset folder: the files still work, only slower
            log.warning("decode-once cache unavailable (%s); reading the image files every epoch", exc)
            cache = False
    if not cache:
        train_raw = load_split(data_dir, "train", classes, exclude)
        test_raw = load_split(data_dir, "test", classes, exclude)
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
