"""The chapter's data pipelines: transformed datasets and DataLoaders, from the files or the cache."""
import logging
import os

from mxnet.gluon.data import DataLoader, Dataset

from .cache import cached_split
from .folders import dataset_root, load_split
from .layout import DEFAULT_IMAGE_SIZE, val_folder
from .split import Subset, class_counts, split_fingerprint, stratified_split
from .transforms import (
    CHAPTER_CROP_SCALE,
    as_ndarray,
    test_image_transform,
    to_normalized_tensor,
    train_image_transform,
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
    train_tf = train_image_transform(image_size, crop_scale) if augment else test_image_transform(image_size)
    # Cached test images are already resized and centre-cropped (see cache.py).
    test_tf = None if cache else test_image_transform(image_size)
    return ImageSet(train_raw, train_tf), ImageSet(test_raw, test_tf)


def load_splits(data_dir, image_size=DEFAULT_IMAGE_SIZE, val_fraction=0.1, seed=0, classes=None,
                crop_scale=CHAPTER_CROP_SCALE, cache=False, augment=True, quiet=False, exclude=()):
    """Train, validation and test datasets, transformed, and what the split was: (train, val, test, info).

    Validation images are the dataset's own val/ (or valid/) folder when it has one, else ``val_fraction``
    of train/, stratified by class and drawn with ``seed`` (``split.stratified_split``): every strategy of
    a comparison validates on the same images. They get the test transform. ``info``: {"validation" (where
    the images come from), "val_fraction", "seed", "counts" {split: {class: n}}, "val_files" (a fingerprint
    of the validation file list)}. The other arguments are ``load_datasets``'.
    """
    root = dataset_root(data_dir)
    own_val = val_folder(root)
    # Each folder listed once: the files (and their order, which every cache of a folder keeps too).
    listings = {split: load_split(data_dir, split, classes, exclude) for split in ("train", own_val or "train", "test")}
    classes = tuple(listings["train"].synsets)
    labels = {split: [label for _, label in listing.items] for split, listing in listings.items()}
    train_idx, val_idx = split_train_folder(labels["train"], own_val, val_fraction, seed, classes)

    def raw(split, form):
        if cache:
            return cached_split(data_dir, split, image_size, classes, quiet, exclude, form)[0]
        return listings[split]

    if cache:
        try:
            train_folder = raw("train", "augment")
        except OSError as exc:  # e.g. a read-only dataset folder: the files still work, only slower
            log.warning("decode-once cache unavailable (%s); reading the image files every epoch", exc)
            cache = False
    if not cache:
        train_folder = raw("train", "augment")
    train_raw = Subset(train_folder, train_idx)
    val_raw = raw(own_val, "eval") if own_val else Subset(raw("train", "eval"), val_idx)
    test_raw = raw("test", "eval")
    train_tf = train_image_transform(image_size, crop_scale) if augment else test_image_transform(image_size)
    eval_tf = None if cache else test_image_transform(image_size)  # the cache did the resize and crop

    val_items = listings[own_val].items if own_val else [listings["train"].items[i] for i in val_idx]
    info = {
        "validation": "{}/ folder".format(own_val) if own_val else "{:g} of train/".format(val_fraction),
        "val_fraction": None if own_val else val_fraction, "seed": None if own_val else seed,
        "counts": {"train": class_counts([labels["train"][i] for i in train_idx], classes),
                   "val": class_counts([label for _, label in val_items], classes),
                   "test": class_counts(labels["test"], classes)},
        "val_files": split_fingerprint([os.path.relpath(path, root) for path, _ in val_items]),
    }
    return ImageSet(train_raw, train_tf), ImageSet(val_raw, eval_tf), ImageSet(test_raw, eval_tf), info


def split_train_folder(labels, own_val, val_fraction, seed, classes):
    """(training indices, validation indices or None) of train/'s images: all of them train when the
    dataset has its own validation folder, else a stratified, seeded ``val_fraction`` is held out."""
    if own_val:
        return list(range(len(labels))), None
    return stratified_split(labels, val_fraction, seed, classes)


def load_training_split(data_dir, image_size=DEFAULT_IMAGE_SIZE, val_fraction=0.1, seed=0,
                        crop_scale=CHAPTER_CROP_SCALE, cache=False, augment=True, quiet=False, exclude=()):
    """The training split alone, transformed as training sees it: the images ``load_splits`` trains on,
    and no validation or test image opened (the learning-rate range test reads nothing else)."""
    listing = load_split(data_dir, "train", None, exclude)
    classes = tuple(listing.synsets)
    train_idx, _ = split_train_folder([label for _, label in listing.items], val_folder(dataset_root(data_dir)),
                                      val_fraction, seed, classes)
    folder = listing
    if cache:
        try:
            folder = cached_split(data_dir, "train", image_size, classes, quiet, exclude, "augment")[0]
        except OSError as exc:  # e.g. a read-only dataset folder: the files still work, only slower
            log.warning("decode-once cache unavailable (%s); reading the image files", exc)
    transform = train_image_transform(image_size, crop_scale) if augment else test_image_transform(image_size)
    return ImageSet(Subset(folder, train_idx), transform)


class ImageSet(Dataset):
    """(normalised 3xSxS float32 tensor, label) items: a dataset of uint8 images, the image steps of a
    transform (crop, flip, resize; ``transforms.py``) applied per image, then the tensor step.

    Indexed, each item is transformed whole. ``make_loader`` does the image steps per image (``images``)
    and the tensor step once per batch: one operation for the batch instead of two per image, the same
    numbers (``transforms.to_normalized_tensor``), and worker processes send uint8 batches, a quarter the size.
    """

    def __init__(self, raw, image_transform=None):
        self.images = raw.transform_first(image_transform) if image_transform is not None else raw

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        image, label = self.images[idx]
        return to_normalized_tensor(as_ndarray(image)), label


def evaluation_set(raw, image_size):
    """A raw (decoded, untransformed) split prepared as the test split is: the chapter's test transform."""
    return ImageSet(raw, test_image_transform(image_size))


class NormalizedBatches:
    """A DataLoader of uint8 image batches whose batches come out as normalised tensors."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for images, labels in self.loader:
            yield to_normalized_tensor(images), labels


def make_loader(dataset, batch_size, shuffle=False, num_workers=0, last_batch="keep", sampler=None):
    """A DataLoader. ``last_batch``: 'keep' (a smaller final batch), 'discard' or 'rollover'.
    ``sampler``: which indices to visit (e.g. a distributed worker's shard) instead of ``shuffle``.
    An ``ImageSet`` is loaded as uint8 images and normalised a batch at a time (``NormalizedBatches``)."""
    images = dataset.images if isinstance(dataset, ImageSet) else dataset
    if sampler is not None:
        loader = DataLoader(images, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                            last_batch=last_batch)
    else:
        loader = DataLoader(images, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                            last_batch=last_batch)
    return NormalizedBatches(loader) if isinstance(dataset, ImageSet) else loader
