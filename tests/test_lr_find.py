"""lr-find, the learning-rate range test: the rates, the smoothing, the stop, the suggestion, training
images only, the files it writes, and the command line."""
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon
from mxnet.gluon import nn
from PIL import Image

from hotdog import _mx, cli
from hotdog.cli.main import build_parser
from hotdog.data import folders
from hotdog.experiments.lr_plot import save_lr_find
from hotdog.models.zoo import pretrained_net
from hotdog.train.config import TrainConfig
from hotdog.train.lr_find import lr_find, run_range
from hotdog.train.lr_range import SmoothedLoss, lr_schedule, read_curve


@pytest.fixture(scope="module")
def pretrained(pretrained_params):
    return pretrained_net(params_file=pretrained_params[0])


def tiny_config(data_dir, **overrides):
    values = dict(strategy="scratch", data_dir=data_dir, batch_size=8, image_size=32)
    values.update(overrides)
    return TrainConfig(**values)


def weights(net):
    return {k: p.data().asnumpy() for k, p in _mx.params_by_structural_name(net).items()}


def strict_json(path):
    """The file as JSON, refusing NaN and Infinity (which json.dumps writes but JSON does not have)."""
    def refuse(name):
        raise ValueError("not JSON: " + name)
    with open(path) as f:
        return json.load(f, parse_constant=refuse)


def test_rates_rise_exponentially_from_start_to_end():
    lrs = lr_schedule(1e-5, 1.0, 6)
    assert lrs[0] == 1e-5 and lrs[-1] == 1.0
    assert np.allclose(np.array(lrs[1:]) / np.array(lrs[:-1]), 10.0)


def test_bias_corrected_smoothing_follows_a_constant_loss_from_the_first_step():
    smoother = SmoothedLoss(0.98)
    assert [round(smoother.add(2.0), 9) for _ in range(5)] == [2.0] * 5  # uncorrected: 0.04, 0.079...
    assert 2.0 < smoother.add(12.0) < 12.0 * 0.5  # one outlier moves it only a little


def overlapping_blobs(seed):
    """A two-class problem no classifier separates: large rates blow a small net up instead of helping."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, 64).astype("float32")
    x = (rng.randn(64, 8) + 0.5 * (2 * y[:, None] - 1)).astype("float32")
    mx.random.seed(seed)
    np.random.seed(seed)  # the loader's shuffles
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu"), nn.Dense(2))
    net.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(x, y), batch_size=16, shuffle=True, last_batch="discard")
    return net, trainer, (batch for _ in range(1000) for batch in loader)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_a_small_problem_the_loss_falls_then_blows_up_and_the_suggestion_is_before_that(seed):
    net, trainer, batches = overlapping_blobs(seed)
    lrs = lr_schedule(1e-4, 1e3, 80)
    curve = run_range(net, trainer, batches, [mx.cpu()], lrs)
    assert curve["stop"]["reason"] == "diverged"
    n = len(curve["lrs"])
    assert curve["lrs"] == lrs[:n] and n < len(lrs)
    assert all(math.isfinite(v) for v in curve["losses"] + curve["smoothed"])
    # It stopped at the first step whose smoothed loss reached 4 times the lowest so far, not later.
    running_min = np.minimum.accumulate(curve["smoothed"])
    above = [i for i in range(n) if curve["smoothed"][i] > 4 * running_min[i]]
    assert above == [n - 1]
    reading = read_curve(curve["lrs"], curve["smoothed"], stopped_early=True)
    suggested = reading["suggestions"]["minimum/10"]
    assert lrs[0] < suggested < lrs[-1] and suggested < curve["stop"]["lr"]
    assert min(curve["smoothed"]) < 0.9 * curve["smoothed"][0]  # it did learn before blowing up
    assert reading["notes"] == []


def test_a_loss_that_stops_being_a_number_ends_the_test_unrecorded():
    net, trainer, batches = overlapping_blobs(0)
    lrs = lr_schedule(1e-2, 1e30, 60)
    curve = run_range(net, trainer, batches, [mx.cpu()], lrs, divergence_factor=float("inf"))
    assert curve["stop"]["reason"] == "not finite" and not math.isfinite(curve["stop"]["loss"])
    assert curve["stop"]["lr"] == lrs[len(curve["lrs"])]
    assert all(math.isfinite(v) for v in curve["losses"] + curve["smoothed"])


def test_reading_curves_that_cannot_give_a_suggestion():
    lrs = lr_schedule(1e-4, 1.0, 40)
    falling = np.linspace(2.0, 0.5, 40)
    reading = read_curve(lrs, falling, stopped_early=False)
    assert reading["suggestions"]["minimum/10"] == pytest.approx(0.1) and "end the range higher" in reading["notes"][0]
    early = np.concatenate([[2.0] * 4, np.linspace(2.0, 1.0, 3), np.linspace(1.0, 3.0, 33)])
    reading = read_curve(lrs, early, stopped_early=True)
    assert reading["suggestions"]["minimum/10"] is None and "start the range lower" in reading["notes"][0]
    rising = np.linspace(1.0, 3.0, 40)
    reading = read_curve(lrs, rising, stopped_early=True)
    assert reading["suggestions"] == {"minimum/10": None, "steepest": None} and reading["fall"] == 0
    flat = 0.69 + 0.002 * np.sin(np.arange(40))  # a loss that never fell: its lowest point is noise
    reading = read_curve(lrs, flat, stopped_early=False)
    assert reading["suggestions"] == {"minimum/10": None, "steepest": None}
    assert "noise, not a minimum" in reading["notes"][0]
    # Flat, falling to a minimum at step 31, blowing up with a sudden dip at the end.
    valley = np.concatenate([np.full(20, 2.0), np.linspace(2.0, 0.4, 12), np.linspace(0.4, 3.0, 6), [1.5, 2.9]])
    reading = read_curve(lrs, valley, stopped_early=True)
    assert reading["min_loss_lr"] == lrs[31] and reading["suggestions"]["minimum/10"] == pytest.approx(lrs[31] / 10)
    assert reading["fall"] == pytest.approx(0.8)
    assert lrs[20] <= reading["suggestions"]["steepest"] < lrs[31] and reading["notes"] == []
    lucky_start = valley.copy()
    lucky_start[0] = 0.1  # one easy first batch: the average of a single loss is that loss
    assert read_curve(lrs, lucky_start, stopped_early=True) == reading


@pytest.mark.parametrize("strategy", ["finetune", "cached"])
def test_the_pretrained_net_is_not_changed_and_nothing_is_written(tiny_data, pretrained, strategy, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = weights(pretrained)
    result = lr_find(tiny_config(tiny_data, strategy=strategy), [mx.cpu()], pretrained=pretrained,
                     start_lr=1e-3, end_lr=3.0, iterations=5, quiet=True)
    after = weights(pretrained)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert os.listdir(str(tmp_path)) == []  # no model, no checkpoint: the library returns a dict
    n = len(result["lrs"])
    assert n >= 2 and result["lrs"] == lr_schedule(1e-3, 3.0, 5)[:n]
    assert result["strategy"] == strategy and result["train_images"] == 14 and result["settings"]["batch_size"] == 8
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def snapshot(folder):
    """Every file outside the decode-once cache, with a hash of its bytes."""
    found = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != ".cache"]
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                found[os.path.relpath(os.path.join(root, name), folder)] = hashlib.sha1(f.read()).hexdigest()
    return found


@pytest.mark.parametrize("cache", [True, False])
def test_only_training_images_are_read_and_the_dataset_is_unchanged(tiny_data, cache, tmp_path, monkeypatch):
    data_dir = str(tmp_path / "data")
    shutil.copytree(tiny_data, data_dir, ignore=shutil.ignore_patterns(".cache"))  # a cache miss: decode here
    decoded = []
    original_init, original_getitem = folders.ImageFolder.__init__, folders.ImageFolder.__getitem__

    def init(self, root, *args, **kwargs):
        if os.path.basename(os.path.normpath(root)) != "train":
            raise AssertionError("opened a split other than train: {}".format(root))
        original_init(self, root, *args, **kwargs)

    def getitem(self, idx):
        decoded.append(self.items[idx][0])
        return original_getitem(self, idx)

    monkeypatch.setattr(folders.ImageFolder, "__init__", init)
    monkeypatch.setattr(folders.ImageFolder, "__getitem__", getitem)
    before = snapshot(data_dir)
    lr_find(tiny_config(data_dir, cache=cache), [mx.cpu()], start_lr=1e-3, end_lr=1.0, iterations=3, quiet=True)
    assert decoded and all(os.sep + "train" + os.sep in path for path in decoded)
    assert snapshot(data_dir) == before
    # The dataset's .cache holds the folder check's memo, and decoded images of train/ only.
    cache_root = os.path.join(data_dir, "hotdog", ".cache")
    decoded_caches = [name for name in os.listdir(cache_root) if name.startswith("decoded-")]
    splits = []
    for name in decoded_caches:
        with open(os.path.join(cache_root, name, "index.json")) as f:
            splits.append(json.load(f)["split"])
    assert splits == (["train"] if cache else [])
    assert sorted(set(os.listdir(cache_root)) - set(decoded_caches)) == ["check-v1.json"]


def test_json_and_png_are_written_and_valid(tiny_data, tmp_path):
    result = lr_find(tiny_config(tiny_data), [mx.cpu()], start_lr=1e-3, end_lr=1.0, iterations=4, quiet=True)
    json_path, png_path = save_lr_find(result, str(tmp_path / "out"))
    saved = strict_json(json_path)
    assert saved == json.loads(json.dumps(result))
    for key in ("lrs", "losses", "smoothed", "suggested_lr", "method", "strategy", "settings", "train_images"):
        assert key in saved
    assert saved["method"] == "minimum/10" and saved["settings"]["start_lr"] == 1e-3
    assert len(saved["lrs"]) == len(saved["losses"]) == len(saved["smoothed"])
    with Image.open(png_path) as im:
        im.verify()
        assert im.format == "PNG"
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["lr_find.json", "lr_find.png"]  # no temporary left


def test_cli_writes_both_files_and_prints_the_suggestion(tiny_data, tmp_path, capsys):
    out = str(tmp_path / "lrf")
    code = cli.main(["lr-find", "--data-dir", tiny_data, "--strategy", "scratch", "--image-size", "32", "--batch-size",
                     "7", "--start-lr", "1e-4", "--end-lr", "10", "--iterations", "16", "--out", out])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    saved = strict_json(os.path.join(out, "lr_find.json"))
    suggested = saved["suggested_lr"]
    # A real net on real (tiny) data: it learned, then blew up, and the suggestion is well before that.
    assert saved["stop"]["reason"] == "diverged" and 1e-4 < suggested < saved["diverged_lr"] < 10
    assert "suggested learning rate: {:.3g}".format(suggested) in captured.out
    assert "--lr {:.3g}".format(suggested) in captured.out
    assert os.path.exists(os.path.join(out, "lr_find.png"))


def test_cli_without_a_suggestion_writes_the_files_and_says_why(tiny_data, tmp_path, capsys):
    out = str(tmp_path / "lrf")
    code = cli.main(["lr-find", "--data-dir", tiny_data, "--strategy", "scratch", "--image-size", "32", "--batch-size",
                     "8", "--start-lr", "1", "--end-lr", "2", "--iterations", "3", "--out", out, "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "start the range lower" in err and "no learning rate to suggest" in err
    assert "Traceback" not in err
    assert strict_json(os.path.join(out, "lr_find.json"))["suggested_lr"] is None
    assert os.path.exists(os.path.join(out, "lr_find.png"))


@pytest.mark.parametrize("argv, flag", [
    (["--start-lr", "1", "--end-lr", "0.1"], "--end-lr"),
    (["--start-lr", "0"], "--start-lr"),
    (["--iterations", "1"], "--iterations"),
    (["--strategy", "nonsense"], "--strategy"),
])
def test_bad_input_is_one_line_naming_the_flag(argv, flag, tmp_path, capsys):
    # A data folder that does not exist: the settings are refused before any data is looked for.
    code = cli.main(["lr-find", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")] + argv)
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith("error: " + flag) and "Traceback" not in err
    assert not os.path.exists(str(tmp_path / "out"))


def test_help_explains_the_suggestion_and_imports_no_mxnet():
    code = """
import contextlib, io, sys
from hotdog.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(["lr-find", "--help"])
    except SystemExit:
        pass
print("mxnet" in sys.modules)
print(out.getvalue())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    imported, help_text = result.stdout.split("\n", 1)
    assert imported == "False", result.stderr
    flat = " ".join(help_text.split())
    for words in ("minimum/10", "steepest", "per-example MEAN loss", "--start-lr", "--end-lr", "--iterations",
                  "TRAINING images only"):
        assert words in flat


@pytest.mark.parametrize("flag", ["--epochs", "--lr", "--lr-schedule", "--lr-steps", "--warmup-epochs", "--patience"])
def test_training_only_options_are_refused(flag, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["lr-find", flag, "1"])
    assert "unrecognized arguments: {}".format(flag) in capsys.readouterr().err
