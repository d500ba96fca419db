"""The chapter's datasets, transforms, loaders, the synthetic generator and `hotdog show`."""
import os
import random

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from hotdog import cli
from hotdog.data import transforms
from hotdog.data.folders import load_split
from hotdog.data.images import UnreadableImage
from hotdog.data.layout import CLASSES, HOTDOG_LABEL
from hotdog.data.pipeline import load_datasets, make_loader
from hotdog.data.synthetic import make_synthetic_hotdog
from hotdog.data.transforms import MEAN, STD
from hotdog.errors import HotdogError
from hotdog.train.optim import seed_everything


def test_label_order_is_sorted_folder_names():
    assert CLASSES == ("hotdog", "not-hotdog") and HOTDOG_LABEL == 0


def test_dataset_lengths_and_labels_match_the_files(tiny_data):
    root = os.path.join(tiny_data, "hotdog")
    for split in ("train", "test"):
        dataset = load_split(tiny_data, split)
        files = {cls: sorted(os.listdir(os.path.join(root, split, cls))) for cls in CLASSES}
        assert len(dataset) == sum(len(f) for f in files.values())
        for path, label in dataset.items:
            assert os.path.basename(path) in files[CLASSES[label]]
            assert os.path.basename(os.path.dirname(path)) == CLASSES[label]


def test_train_transform_shape_dtype_and_range(tiny_data):
    train, _ = load_datasets(tiny_data, image_size=64)
    x, y = train[0]
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    assert y in (0, 1)
    lo = (0 - np.array(MEAN)) / np.array(STD)
    hi = (1 - np.array(MEAN)) / np.array(STD)
    values = x.asnumpy().reshape(3, -1)
    assert (values.min(axis=1) >= lo - 1e-5).all() and (values.max(axis=1) <= hi + 1e-5).all()


def test_test_transform_is_squash_resize_center_crop_normalise(tiny_data):
    raw = load_split(tiny_data, "test")
    image, _ = raw[0]
    got = transforms.test_transform(224)(image).asnumpy()
    # By hand: squash to 256x256 (as the chapter does), crop the centre 224, scale to [0,1], normalise.
    resized = mx.image.imresize(image, 256, 256).asnumpy().astype(np.float32) / 255
    crop = resized[16:240, 16:240]
    expected = ((crop - np.array(MEAN)) / np.array(STD)).transpose(2, 0, 1)
    assert got.shape == (3, 224, 224)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_test_transform_is_deterministic_and_train_is_random(tiny_data):
    raw = load_split(tiny_data, "train")
    image, _ = raw[0]
    assert (transforms.test_transform(32)(image) == transforms.test_transform(32)(image)).asnumpy().all()
    mx.random.seed(0)
    a, b = transforms.train_transform(32)(image), transforms.train_transform(32)(image)
    assert not np.allclose(a.asnumpy(), b.asnumpy())


def test_loaders_batch_and_keep_the_last_batch(tiny_data):
    train, test = load_datasets(tiny_data, image_size=32)
    train_loader, test_loader = make_loader(train, 5, shuffle=True), make_loader(test, 5)
    sizes = [x.shape[0] for x, _ in test_loader]
    assert sizes == [5, 3]  # 8 test images, last batch kept
    x, y = next(iter(train_loader))
    assert x.shape == (5, 3, 32, 32) and y.shape == (5,)
    assert [x.shape[0] for x, _ in make_loader(test, 5, last_batch="discard")] == [5]


def test_loader_with_worker_processes(tiny_data):
    train, _ = load_datasets(tiny_data, image_size=32)
    batches = list(make_loader(train, 4, shuffle=True, num_workers=2))
    assert sum(x.shape[0] for x, _ in batches) == len(train)


def test_unreadable_image_is_named(tmp_path):
    data_dir = tmp_path / "d"
    make_synthetic_hotdog(str(data_dir / "hotdog"), n_train=2, n_test=1, seed=3, size_range=(150, 160))
    broken = data_dir / "hotdog" / "train" / "hotdog" / "1.png"
    broken.write_bytes(b"this is not a png")
    dataset = load_split(str(data_dir), "train")
    index = [i for i, (p, _) in enumerate(dataset.items) if p.endswith(os.path.join("hotdog", "1.png"))][0]
    with pytest.raises(UnreadableImage, match="1.png"):
        dataset[index]


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(HotdogError, match="hotdog download"):
        load_split(str(tmp_path), "train")


def test_synthetic_generator_layout_naming_and_determinism(tmp_path):
    sha_a = make_synthetic_hotdog(str(tmp_path / "a"), 3, 2, seed=5, zip_path=str(tmp_path / "a.zip"))
    sha_b = make_synthetic_hotdog(str(tmp_path / "b"), 3, 2, seed=5, zip_path=str(tmp_path / "b.zip"))
    sha_c = make_synthetic_hotdog(str(tmp_path / "c"), 3, 2, seed=6, zip_path=str(tmp_path / "c.zip"))
    assert sha_a == sha_b != sha_c
    for cls in CLASSES:
        assert sorted(os.listdir(tmp_path / "a" / "train" / cls)) == ["0.png", "1.png", "2.png"]
        assert sorted(os.listdir(tmp_path / "a" / "test" / cls)) == ["1000.png", "1001.png"]
    sizes = set()
    for dirpath, _, names in os.walk(tmp_path / "a"):
        for name in names:
            with Image.open(os.path.join(dirpath, name)) as im:
                assert im.mode == "RGB" and 150 <= min(im.size) and max(im.size) <= 500
                sizes.add(im.size)
    assert len(sizes) > 5  # varied sizes and aspect ratios


def test_show_writes_a_png(tiny_data, tmp_path):
    out = str(tmp_path / "grid" / "samples.png")
    assert cli.main(["show", "--data-dir", tiny_data, "--out", out, "-q"]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1] > 50
    assert not [n for n in os.listdir(tmp_path / "grid") if n != "samples.png"]


@pytest.mark.parametrize("cache", [False, True])
def test_loaders_normalise_a_batch_at_once_with_the_per_image_numbers(tiny_data, cache):
    # The loader runs ToTensor/Normalize once per batch; indexing the dataset runs them per image. With the
    # same random draws (crops, flips), both must give exactly the same tensors.
    train, test = load_datasets(tiny_data, image_size=32, cache=cache, quiet=True)
    for dataset in (train, test):
        seed_everything(7)
        batches = list(make_loader(dataset, 5))
        seed_everything(7)
        items = [dataset[i] for i in range(len(dataset))]
        assert [x.shape[0] for x, _ in batches] == [5] * (len(dataset) // 5) + [len(dataset) % 5] * bool(len(dataset) % 5)
        got = np.concatenate([x.asnumpy() for x, _ in batches])
        expected = np.stack([x.asnumpy() for x, _ in items])
        assert got.dtype == np.float32 and got.shape == (len(dataset), 3, 32, 32)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.concatenate([y.asnumpy() for _, y in batches]), [y for _, y in items])


def test_the_training_crop_draws_gluons_boxes_and_flips_half_the_time():
    image = np.random.RandomState(0).randint(0, 256, (90, 130, 3)).astype(np.uint8)
    crop = transforms.CropAndFlip(48, (0.08, 1.0))
    for seed in range(20):
        random.seed(seed)
        _, expected = mx.image.random_size_crop(mx.nd.array(image, dtype="uint8"), (48, 48), (0.08, 1.0),
                                                (3 / 4, 4 / 3))
        random.seed(seed)
        assert crop.box(130, 90) == expected
    assert transforms.CropAndFlip(48, (0.9, 1.0)).box(20, 30) == (0, 5, 20, 20)  # too small: the centre square
    random.seed(0)
    outputs = [crop(image) for _ in range(200)]
    assert all(o.shape == (48, 48, 3) and o.dtype == np.uint8 for o in outputs)
    # A whole-image crop (no resize) is the image itself or its mirror, about half the time each.
    square = image[:60, :60]
    whole = transforms.CropAndFlip(60, (1.0, 1.0), ratio=(1.0, 1.0))
    outs = [whole(square) for _ in range(200)]
    flipped = sum((o == square[:, ::-1]).all() for o in outs)
    assert sum((o == square).all() for o in outs) + flipped == 200 and 70 < flipped < 130


def test_a_crop_too_small_to_hold_a_pixel_is_a_failed_try_not_an_empty_image():
    image = np.random.RandomState(1).randint(1, 256, (10, 12, 3)).astype(np.uint8)  # no black pixel
    crop = transforms.CropAndFlip(8, (0.001, 0.002))  # 0.1 to 0.2 pixels: every try rounds to nothing
    for seed in range(50):
        random.seed(seed)
        assert crop.box(12, 10) == (2, 1, 8, 8)  # the centre, as when every try is too big
    assert crop(image).min() > 0


def test_the_transforms_say_what_they_do_when_printed():
    assert repr(transforms.train_transform(224)) == (
        "Chain(CropAndFlip(size=224, scale=(0.08, 1.0), ratio=(0.75, 1.3333)), to_normalized_tensor)")
    assert repr(transforms.test_transform(224)) == "Chain(Resize(256), CenterCrop((224, 224)), to_normalized_tensor)"


def test_generated_images_do_not_depend_on_the_number_of_processes(tmp_path):
    from hotdog.data.synthetic import POOL_MIN_IMAGES, make_source_folder
    folders = {}
    for processes in (1, 2):
        folders[processes] = str(tmp_path / str(processes))
        make_source_folder(folders[processes], n_train=7, n_test=1, seed=5, size_range=(32, 48), processes=processes)
    files = sorted(os.path.relpath(os.path.join(d, f), folders[1]) for d, _, names in os.walk(folders[1]) for f in names)
    assert len(files) >= POOL_MIN_IMAGES  # so that two processes did draw them
    for rel in files:
        with open(os.path.join(folders[1], rel), "rb") as a, open(os.path.join(folders[2], rel), "rb") as b:
            assert a.read() == b.read(), rel


def test_a_food_picker_that_worker_processes_cannot_receive_is_drawn_here_instead(tmp_path):
    """A lambda (or a nested function) cannot be pickled to worker processes: same images, no failure."""
    from hotdog.data.synthetic import POOL_MIN_IMAGES, make_image_folder
    n = POOL_MIN_IMAGES // 2  # per class and split: enough that two processes would be used
    counts = make_image_folder(str(tmp_path / "lambda"), n, 1, seed=3, size_range=(24, 32), processes=2,
                               kind_of=lambda cls, rng: "hotdog" if cls == "hotdog" else "pizza")
    assert counts == {"train": {"hotdog": n, "not-hotdog": n}, "test": {"hotdog": 1, "not-hotdog": 1}}
    make_image_folder(str(tmp_path / "named"), n, 1, seed=3, size_range=(24, 32), processes=1, kind_of=_hotdog_or_pizza)
    for cls in ("hotdog", "not-hotdog"):
        for i in (0, n - 1):
            rel = os.path.join("train", cls, "{}.png".format(i))
            assert (tmp_path / "lambda" / rel).read_bytes() == (tmp_path / "named" / rel).read_bytes(), rel


def _hotdog_or_pizza(cls, rng):
    return "hotdog" if cls == "hotdog" else "pizza"


def test_which_food_pickers_go_to_worker_processes(monkeypatch):
    import multiprocessing
    import sys

    from hotdog.data.synthetic import _can_send_to_workers
    assert _can_send_to_workers(_hotdog_or_pizza) and not _can_send_to_workers(lambda cls, rng: "pizza")

    def in_a_notebook(cls, rng):  # as if defined in a notebook cell: pickled by name, as __main__.in_a_notebook
        return "pizza"
    in_a_notebook.__module__, in_a_notebook.__qualname__ = "__main__", "in_a_notebook"
    monkeypatch.setattr(sys.modules["__main__"], "in_a_notebook", in_a_notebook, raising=False)
    for method, sent in (("fork", True), ("spawn", False), ("forkserver", False)):
        monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False, method=method: method)
        assert _can_send_to_workers(in_a_notebook) == sent, method
