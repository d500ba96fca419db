"""The decode-once cache and the cached-features strategy (speed itself is measured by `hotdog bench`)."""
import json
import os
import shutil

import mxnet as mx
import numpy as np
import pytest

from hotdog import cli
from hotdog.data.cache import cached_split
from hotdog.data.folders import load_split
from hotdog.data.pipeline import load_datasets
from hotdog.data.synthetic import make_synthetic_hotdog
from hotdog.models.zoo import pretrained_net
from hotdog.train.config import TrainConfig
from hotdog.train.loop import train


@pytest.fixture
def fresh_data(tmp_path):
    data_dir = str(tmp_path / "d")
    make_synthetic_hotdog(os.path.join(data_dir, "hotdog"), n_train=4, n_test=3, seed=7, size_range=(150, 230))
    return data_dir


def cache_folders(data_dir):
    folder = os.path.join(data_dir, "hotdog", ".cache")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_cache_miss_then_hit(fresh_data):
    dataset, hit = cached_split(fresh_data, "train", 32, quiet=True)
    built = cache_folders(fresh_data)
    assert not hit and len(dataset) == 8 and len(built) == 1
    again, hit = cached_split(fresh_data, "train", 32, quiet=True)
    assert hit and cache_folders(fresh_data) == built  # read from the same folder, nothing new built
    for i in range(len(dataset)):
        assert (dataset[i][0] == again[i][0]).all() and dataset[i][1] == again[i][1]


def test_cache_is_invalidated_by_changed_data_or_size(fresh_data):
    _, _ = cached_split(fresh_data, "test", 32, quiet=True)
    _, hit = cached_split(fresh_data, "test", 48, quiet=True)
    assert not hit  # another size is another cache
    # Same file names, other content: a new key, not a stale hit.
    path = os.path.join(fresh_data, "hotdog", "test", "hotdog", "1000.png")
    shutil.copy(os.path.join(fresh_data, "hotdog", "test", "not-hotdog", "1001.png"), path)
    before = cache_folders(fresh_data)
    dataset, hit = cached_split(fresh_data, "test", 32, quiet=True)
    after = cache_folders(fresh_data)
    # A new cache for the new content; the one it replaces (same split and size) is removed.
    assert not hit and len(before) == len(after) == 2 and len(set(after) - set(before)) == 1
    index = dataset.paths.index(path)
    raw = load_split(fresh_data, "test")
    squashed = mx.image.imresize(raw[index][0], 37, 37)  # round(32 * 256 / 224) = 37
    expected = mx.image.center_crop(squashed, (32, 32))[0].asnumpy()
    assert (dataset[index][0] == expected).all()


def test_cached_test_tensors_equal_the_uncached_ones(fresh_data):
    _, cached = load_datasets(fresh_data, image_size=64, cache=True, quiet=True)
    _, files = load_datasets(fresh_data, image_size=64, cache=False)
    assert len(cached) == len(files)
    for i in range(len(files)):
        np.testing.assert_array_equal(cached[i][0].asnumpy(), files[i][0].asnumpy())
        assert cached[i][1] == files[i][1]


def test_cached_train_images_keep_their_aspect_and_short_side(fresh_data):
    dataset, _ = cached_split(fresh_data, "train", 64, quiet=True)
    raw = load_split(fresh_data, "train")
    for i in range(len(raw)):
        h, w = raw[i][0].shape[:2]
        ch, cw = dataset[i][0].shape[:2]
        assert min(ch, cw) == 73 and abs(cw / ch - w / h) < 0.05
    train, _ = load_datasets(fresh_data, image_size=64, cache=True, quiet=True)
    assert train[0][0].shape == (3, 64, 64)


def test_unwritable_dataset_falls_back_to_the_files(fresh_data, monkeypatch, caplog):
    import hotdog.data.cache as cache_module

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")
    monkeypatch.setattr(cache_module, "build_cache", refuse)
    train, test = load_datasets(fresh_data, image_size=32, cache=True)
    assert len(train) == 8 and "reading the image files" in caplog.text


def test_cached_strategy_equals_frozen_without_augmentation(tiny_data, pretrained_params, tmp_path):
    pretrained = pretrained_net(params_file=pretrained_params[0])
    common = dict(data_dir=tiny_data, epochs=3, batch_size=4, image_size=32, lr=0.05, momentum=0.9)
    frozen = train(TrainConfig(strategy="frozen", augment=False, **common), str(tmp_path / "frozen"), [mx.cpu()],
                   pretrained=pretrained, quiet=True)
    cached = train(TrainConfig(strategy="cached", **common), str(tmp_path / "cached"), [mx.cpu()],
                   pretrained=pretrained, quiet=True)
    for a, b in zip(frozen["history"], cached["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-9)
    # The cached run's model is a whole net (backbone + trained output) that predict can use.
    config = json.loads((tmp_path / "cached" / "config.json").read_text())
    assert config["strategy"] == "frozen"
    assert cli.main(["evaluate", "--model-dir", str(tmp_path / "cached")]) == 0


def test_cached_strategy_resumes(tiny_data, pretrained_params, tmp_path):
    pretrained = pretrained_net(params_file=pretrained_params[0])
    config = lambda epochs: TrainConfig(strategy="cached", data_dir=tiny_data, epochs=epochs, batch_size=4,
                                        image_size=32, lr=0.05)
    straight = train(config(2), str(tmp_path / "a"), [mx.cpu()], pretrained=pretrained, quiet=True)
    train(config(1), str(tmp_path / "b"), [mx.cpu()], pretrained=pretrained, quiet=True)
    resumed = train(config(2), str(tmp_path / "b"), [mx.cpu()], pretrained=pretrained, quiet=True, resume=True)
    assert [h["train_loss"] for h in straight["history"]] == pytest.approx([h["train_loss"] for h in resumed["history"]])


def test_bench_command_runs_at_a_tiny_size(tmp_path, capsys):
    md = str(tmp_path / "bench.md")
    code = cli.main(["bench", "--sizes", "32", "--n-train", "4", "--n-test", "2", "--batch-size", "4",
                     "--seconds", "0.2", "--variants", "files:0,cache:0", "--small-images", "12", "--markdown", md])
    assert code == 0
    table = open(md).read()
    assert "ceiling" in table and "end-to-end: decode-once cache" in table
    assert "`cached` epoch trains" in table
    rows = [line for line in table.splitlines() if line.startswith("| 32 |")]
    assert len(rows) == 5 + 3  # ceiling + (pipeline, end-to-end) x 2 variants; small run x 2, predict
    for line in rows[:5]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[2]) > 0 and float(cells[4]) > 0
    small_pass, small_epoch, predict = rows[5:]
    assert "12-image folder, epoch 2: training pass" in small_pass and float(small_pass.split("|")[4]) > 0
    assert "the whole epoch" in small_epoch and float(small_epoch.split("|")[4]) > 0
    assert "predict on image files" in predict and float(predict.split("|")[3]) > 0


def test_bench_names_every_wrong_option_at_once_before_measuring_anything(tmp_path, capsys):
    md = tmp_path / "bench.md"
    code = cli.main(["bench", "--sizes", "224,x", "--variants", "cache:0,cash:2", "--small-images", "7",
                     "--seconds", "0", "--batch-size", "0", "--markdown", str(md)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err  # one line
    for flag in ("--sizes", "--variants", "--small-images", "--seconds", "--batch-size"):
        assert flag in err, (flag, err)
    assert not md.exists()
    # Options the chosen benchmark would silently ignore are named too, not their values.
    assert cli.main(["bench", "--demo", "--data-dir", str(tmp_path), "--variants", "bad", "--seconds", "inf"]) == 1
    err = capsys.readouterr().err
    assert "--data-dir is not used by --demo" in err and "--variants is not used by --demo" in err, err
    assert "takes cache:N" not in err and "--seconds must be" in err, err
    assert cli.main(["bench", "--inference", "--sizes", "²", "--demo-size", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "--sizes takes image sizes" in err and "--demo-size is used only with --demo" in err, err


def test_bench_demo_times_every_phase_against_its_own_ceiling(tmp_path, capsys):
    md, js = str(tmp_path / "demo.md"), str(tmp_path / "demo.json")
    code = cli.main(["bench", "--demo", "--demo-size", "tiny", "--seconds", "0.2", "--markdown", md, "--json", js])
    assert code == 0
    report = json.loads(open(js).read())
    names = [p["phase"] for p in report["phases"]]
    assert names[0].startswith("source pretraining (batch 16, adam)") and names[1:] == ["finetune (batch 8)",
                                                                                      "scratch (batch 8)"]
    for phase in report["phases"]:
        assert phase["train_rate"] > 0 and phase["train_ceiling"] > 0 and phase["ideal_seconds"] > 0
    assert report["wall_seconds"] > report["ideal_seconds"] > 0  # generation and set-up are not free
    table = open(md).read()
    assert "| source pretraining" in table and "The whole demo took" in table
