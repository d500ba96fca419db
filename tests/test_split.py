"""hotdog.split: a deterministic, stratified validation split taken from the training images."""
import re

import numpy as np
import pytest

from hotdog.data.split import class_counts, split_fingerprint, stratified_split
from hotdog.errors import HotdogError

# 100 images of class 0 then 40 of class 1, interleaved so that positions and classes are not aligned.
LABELS = [0, 1, 0, 0, 1] * 20 + [0] * 40


def test_same_inputs_same_split_whatever_the_global_seed():
    np.random.seed(1)
    first = stratified_split(LABELS, 0.2, seed=7)
    np.random.seed(2)
    np.random.rand(10)
    assert stratified_split(LABELS, 0.2, seed=7) == first


def test_seed_changes_the_split():
    assert stratified_split(LABELS, 0.2, seed=7)[1] != stratified_split(LABELS, 0.2, seed=8)[1]


def test_each_class_gives_its_share():
    # class 0: round(0.2 * 100) = 20, class 1: round(0.2 * 40) = 8
    train, val = stratified_split(LABELS, 0.2, seed=0)
    val_labels = [LABELS[i] for i in val]
    assert (val_labels.count(0), val_labels.count(1)) == (20, 8)
    assert len(train) == 140 - 28


def test_disjoint_sorted_and_covering():
    train, val = stratified_split(LABELS, 0.3, seed=3)
    assert train == sorted(train) and val == sorted(val)
    assert not set(train) & set(val)
    assert sorted(train + val) == list(range(len(LABELS)))
    assert all(isinstance(i, int) for i in train + val)


@pytest.mark.parametrize("n_images, fraction, n_val", [
    (5, 0.5, 3),  # 2.5 rounds up (Python's round would give 2)
    (7, 0.5, 4),  # 3.5 rounds up
    (10, 0.01, 1),  # 0.1 rounds to 0, but every class gives at least one image
    (10, 0.94, 9),  # 9.4 -> 9, one left for training
])
def test_rounding(n_images, fraction, n_val):
    _, val = stratified_split([0] * n_images + [1] * 20, fraction, seed=0)
    assert sum(1 for i in val if i < n_images) == n_val


def test_depends_only_on_labels_fraction_and_seed():
    # A list, a tuple and a numpy array of the same labels pick the same images.
    expected = stratified_split(LABELS, 0.2, seed=5)
    assert stratified_split(tuple(LABELS), 0.2, seed=5) == expected
    assert stratified_split(np.array(LABELS, dtype=np.int64), 0.2, np.int64(5)) == expected


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, float("nan")])
def test_bad_fraction(fraction):
    with pytest.raises(HotdogError, match=r"val_fraction must be between 0 and 1 \(got {}\)".format(
            re.escape(str(float(fraction))))):
        stratified_split(LABELS, fraction, seed=0)


def test_fraction_that_is_not_a_number():
    with pytest.raises(HotdogError, match=r"val_fraction must be a number between 0 and 1 \(got 'a lot'\)"):
        stratified_split(LABELS, "a lot", seed=0)


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 1.5, True])
def test_bad_seed(seed):
    with pytest.raises(HotdogError, match="seed must be a whole number"):
        stratified_split(LABELS, 0.2, seed)


def test_every_starved_class_in_one_message():
    labels = [0] * 1 + [1] * 30 + [2] * 1
    with pytest.raises(HotdogError) as info:
        stratified_split(labels, 0.2, seed=0, classes=("cat", "dog", "emu"))
    message = str(info.value)
    assert "class 'cat' (0): 1 image(s) -> 1 for validation, 0 for training" in message
    assert "class 'emu' (2): 1 image(s) -> 1 for validation, 0 for training" in message
    assert "dog" not in message
    assert "Lower val_fraction" in message and "val/ folder" in message


def test_fraction_too_large_starves_every_class():
    # round(0.96 * 10) = 10 and round(0.96 * 40) = 38: class 0 keeps nothing for training, class 1 keeps 2.
    labels = [0] * 10 + [1] * 40
    with pytest.raises(HotdogError, match=r"val_fraction=0.96 .*\n  - class 0: 10 image\(s\) -> 10 for validation, "
                                          r"0 for training\nLower val_fraction"):
        stratified_split(labels, 0.96, seed=0)


def test_class_without_images_needs_the_class_names():
    with pytest.raises(HotdogError, match=r"class 'emu' \(2\): 0 image\(s\) -> 0 for validation, 0 for training"):
        stratified_split([0] * 5 + [1] * 5, 0.2, seed=0, classes=("cat", "dog", "emu"))


def test_labels_must_fit_the_classes():
    with pytest.raises(HotdogError, match=r"labels has class numbers \[2, 5\] but classes has only 2 names"):
        stratified_split([0, 1, 2, 5, 0, 1], 0.2, seed=0, classes=("cat", "dog"))


def test_no_labels():
    with pytest.raises(HotdogError, match="labels is empty"):
        stratified_split([], 0.2, seed=0)


def test_labels_must_be_class_numbers():
    with pytest.raises(HotdogError, match="labels must be a flat list of class numbers"):
        stratified_split(["cat", "dog"] * 5, 0.2, seed=0)


def test_fingerprint_ignores_order_and_separators():
    paths = ["train/hotdog/1.png", "train/not-hotdog/7.png", "train/hotdog/3.png"]
    fingerprint = split_fingerprint(paths)
    assert re.fullmatch("[0-9a-f]{12}", fingerprint)
    assert split_fingerprint(reversed(paths)) == fingerprint
    assert split_fingerprint([p.replace("/", "\\") for p in paths]) == fingerprint


def test_fingerprint_changes_with_the_files():
    paths = ["train/hotdog/1.png", "train/hotdog/3.png"]
    assert split_fingerprint(paths + ["train/hotdog/4.png"]) != split_fingerprint(paths)
    assert split_fingerprint(["train/hotdog/1.png", "train/hotdog/2.png"]) != split_fingerprint(paths)


def test_fingerprint_refuses_absolute_paths():
    with pytest.raises(HotdogError, match="paths must be relative to the data root"):
        split_fingerprint(["/data/hotdog/train/hotdog/1.png"])


def test_class_counts_lists_every_class():
    assert class_counts([0, 2, 0, 0], ("cat", "dog", "emu")) == {"cat": 3, "dog": 0, "emu": 1}
    assert class_counts([0, 0], ("cat", "dog")) == {"cat": 2, "dog": 0}
    assert class_counts(LABELS, ("hotdog", "not-hotdog")) == {"hotdog": 100, "not-hotdog": 40}


def test_class_counts_unknown_label():
    with pytest.raises(HotdogError, match=r"labels has class numbers \[3\]"):
        class_counts([0, 3], ("cat", "dog"))
