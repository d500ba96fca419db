"""The validation split: training images held back to pick the best epoch and to stop early.

Choosing the epoch on the test set would make the test accuracy look better than it is (the choice is
fitted to those very images). So the choice is made on a validation split taken from train/, and the
test set is only used for the final numbers. The split depends only on the labels, the fraction and the
seed, so every strategy of a comparison validates on the same images.
"""
import hashlib
import math
import os

import numpy as np
from mxnet.gluon.data import Dataset

from ..errors import ConfigError, HotdogError

FINGERPRINT_LENGTH = 12  # hex digits: short enough to read in a results table, ample to tell lists apart


def stratified_split(labels, fraction, seed, classes=None):
    """``(train_indices, val_indices)``: sorted lists of positions in ``labels``.

    Each class gives ``round(fraction * its count)`` images (halves round up, at least one) to
    validation, so the validation set has the class proportions of train/. ``labels`` are class numbers;
    ``classes`` (optional, the names by number) names classes in errors and also catches a class with no
    image at all. A class left without a validation or a training image is an error, listing every such
    class at once. Errors call ``fraction`` val_fraction, the name callers (and the CLI flag) give it.
    """
    fraction = _check_fraction(fraction)
    _check_seed(seed)
    labels = _as_labels(labels)
    if classes is not None:
        _check_labels_in_range(labels, classes)
    class_numbers = range(len(classes)) if classes is not None else np.unique(labels)
    per_class = {label: np.flatnonzero(labels == label) for label in class_numbers}
    if not per_class:
        raise HotdogError("labels is empty: there are no training images to split")
    n_val = {label: _n_validation(len(indices), fraction) for label, indices in per_class.items()}
    _check_every_class_kept(per_class, n_val, fraction, classes)
    # A private RandomState ignores the global numpy seed, and its stream is frozen across numpy
    # versions: the same inputs pick the same images on any machine, in any strategy.
    rng = np.random.RandomState(seed)
    val = set()
    for label, indices in per_class.items():  # a fixed class order keeps the draws reproducible
        val.update(int(i) for i in rng.permutation(indices)[:n_val[label]])
    train = set(range(len(labels))) - val
    return sorted(train), sorted(val)


def split_fingerprint(paths):
    """A short sha1 hex of the sorted file list (paths relative to the data root).

    Stored with results, it records which images were used (e.g. for validation): two runs with the same
    fingerprint validated on the same files, whatever the order the files were listed in.
    """
    # Forward slashes everywhere, so the same files give the same fingerprint on Windows.
    names = sorted(os.fspath(path).replace("\\", "/") for path in paths)
    absolute = [name for name in names if os.path.isabs(name)]
    if absolute:
        raise HotdogError("paths must be relative to the data root, so the fingerprint does not depend on "
                          "where the data lives (got {}); use os.path.relpath(path, root)".format(absolute[0]))
    return hashlib.sha1("\n".join(names).encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


def class_counts(labels, classes):
    """``{class name: number of images}`` for labels numbered as in ``classes`` (every class listed)."""
    labels = _as_labels(labels)
    _check_labels_in_range(labels, classes)
    counts = np.bincount(labels, minlength=len(classes))
    return {name: int(count) for name, count in zip(classes, counts)}


def _n_validation(n_images, fraction):
    # Half up rather than Python's round-half-to-even, so that e.g. 0.5 * 5 gives 3 like 0.5 * 7 gives 4.
    return min(n_images, max(1, math.floor(fraction * n_images + 0.5)))


def _check_every_class_kept(per_class, n_val, fraction, classes):
    starved = []
    for label, indices in per_class.items():
        n_train = len(indices) - n_val[label]
        # n_val is at least 1 unless the class has no image, which leaves no training image either.
        if n_train < 1:
            starved.append("{}: {} image(s) -> {} for validation, {} for training".format(
                _class_name(label, classes), len(indices), n_val[label], n_train))
    if starved:
        raise HotdogError(
            "val_fraction={} leaves some classes without a validation or a training image:\n  - {}\n"
            "Lower val_fraction, add images to these classes (at least 2 each), or provide a val/ folder "
            "so that train/ is not split".format(fraction, "\n  - ".join(starved)))


def _class_name(label, classes):
    return "class {}".format(label) if classes is None else "class '{}' ({})".format(classes[label], label)


def _check_fraction(fraction):
    try:
        fraction = float(fraction)
    except (TypeError, ValueError):
        raise ConfigError("val_fraction", "must be a number between 0 and 1 (got {!r})".format(fraction)) from None
    # Negated so that NaN is refused too.
    if not 0 < fraction < 1:
        raise ConfigError("val_fraction", "must be between 0 and 1 (got {}); 0.1 to 0.2 is usual".format(fraction))
    return fraction


def _check_seed(seed):
    # The range numpy's RandomState accepts; bool is an int in Python but surely a mistake here.
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise HotdogError("seed must be a whole number from 0 to 2**32 - 1 (got {!r})".format(seed))


def _as_labels(labels):
    array = np.asarray(labels)
    if array.size == 0:
        return array.astype(int).reshape(-1)  # np.asarray([]) is float; an empty list is still valid
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise HotdogError("labels must be a flat list of class numbers, one per image "
                          "(got dtype {}, shape {})".format(array.dtype, array.shape))
    return array


def _check_labels_in_range(labels, classes):
    unknown = sorted(set(int(label) for label in labels) - set(range(len(classes))))
    if unknown:
        raise HotdogError("labels has class numbers {} but classes has only {} names (0 to {})".format(
            unknown, len(classes), len(classes) - 1))


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order (a split of a folder's images)."""

    def __init__(self, dataset, indices):
        self._dataset, self.indices = dataset, list(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, idx):
        return self._dataset[self.indices[idx]]
