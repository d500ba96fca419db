"""Honest numbers: choices made on a validation split only, results that say how sure they are, class
weights, and bad input for all of it."""
import hashlib
import json
import os
import shutil

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from hotdog import cli
from hotdog.data.pipeline import load_splits
from hotdog.evaluate.stats import mcnemar_exact, wilson_interval
from hotdog.experiments.compare import compare
from hotdog.models.zoo import pretrained_net
from hotdog.train.config import TrainConfig
from hotdog.train.loop import train
from hotdog.train.step import make_loss


def sha1(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def copy_without_caches(source, dest):
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".cache"))
    return dest


def flip_test_labels(data_dir):
    """Swap the two test class folders: every test label becomes wrong."""
    test = os.path.join(data_dir, "hotdog", "test")
    os.rename(os.path.join(test, "hotdog"), os.path.join(test, "swap"))
    os.rename(os.path.join(test, "not-hotdog"), os.path.join(test, "hotdog"))
    os.rename(os.path.join(test, "swap"), os.path.join(test, "not-hotdog"))


def test_nothing_reads_the_test_set_to_choose(tiny_data, tmp_path):
    # Same training folder and seed, test folders with opposite labels: if anything chose by the test set,
    # the best epoch, early stopping or the saved weights would differ.
    honest = copy_without_caches(tiny_data, str(tmp_path / "honest"))
    flipped = copy_without_caches(tiny_data, str(tmp_path / "flipped"))
    flip_test_labels(flipped)
    results = []
    for data_dir in (honest, flipped):
        config = TrainConfig(strategy="scratch", data_dir=data_dir, epochs=4, batch_size=4, image_size=32, lr=0.3,
                             patience=2)
        out = str(tmp_path / ("out-" + os.path.basename(data_dir)))
        results.append((train(config, out, [mx.cpu()], quiet=True), out))
    (a, out_a), (b, out_b) = results
    assert [h["test_loss"] for h in a["history"]] != [h["test_loss"] for h in b["history"]]  # the test sets differ
    assert [h["val_loss"] for h in a["history"]] == [h["val_loss"] for h in b["history"]]
    assert a["best"]["epoch"] == b["best"]["epoch"] and len(a["history"]) == len(b["history"])
    for name in ("model.params", "best.params"):
        assert sha1(os.path.join(out_a, name)) == sha1(os.path.join(out_b, name)), name


def test_the_validation_split_is_stratified_seeded_and_recorded(tiny_data, tmp_path):
    _, val, _, info = load_splits(tiny_data, 32, val_fraction=0.25, seed=3)
    assert info["counts"]["val"] == {"hotdog": 2, "not-hotdog": 2} and info["counts"]["train"] == {
        "hotdog": 6, "not-hotdog": 6}
    assert load_splits(tiny_data, 32, val_fraction=0.25, seed=3)[3]["val_files"] == info["val_files"]
    assert load_splits(tiny_data, 32, val_fraction=0.25, seed=4)[3]["val_files"] != info["val_files"]
    # A dataset's own val/ folder is used instead.
    data = copy_without_caches(tiny_data, str(tmp_path / "d"))
    shutil.copytree(os.path.join(data, "hotdog", "test"), os.path.join(data, "hotdog", "val"))
    train_set, val, _, info = load_splits(data, 32, val_fraction=0.25, seed=3)
    assert info["validation"] == "val/ folder" and len(val) == 8 and len(train_set) == 16


def test_compare_says_how_sure_it_is(tiny_data, pretrained_params, tmp_path):
    pretrained = pretrained_net(params_file=pretrained_params[0])
    base = TrainConfig(data_dir=tiny_data, epochs=1, batch_size=8, image_size=32)
    out = str(tmp_path / "c")
    compare(["finetune", "scratch"], base, out, [mx.cpu()], pretrained=pretrained, quiet=True, seeds=[0, 1])
    saved = json.load(open(os.path.join(out, "results.json")))
    assert saved["schema"] == "hotdog.compare/2" and saved["seeds"] == [0, 1]
    assert saved["split"]["counts"]["val"] == {"hotdog": 1, "not-hotdog": 1}
    finetune, scratch = saved["strategies"]
    for row in (finetune, scratch):
        low, high = row["final_test_ci"]
        assert (low, high) == pytest.approx(wilson_interval(round(row["final_test_acc"] * 8), 8))
        assert [s["seed"] for s in row["seeds"]] == [0, 1] and row["sd_test_acc"] is not None
        assert row["mean_test_acc"] == pytest.approx(np.mean([s["final_test_acc"] for s in row["seeds"]]))
        assert set(row["per_class_recall"]) == {"hotdog", "not-hotdog"}
        assert os.path.exists(os.path.join(out, row["out_dir"], "model.params"))
    vs = scratch["vs_first"]
    assert finetune["vs_first"] is None and vs["against"] == "finetune"
    for row in (finetune, scratch):  # every run validated on the same images (its seed's)
        for run in row["seeds"]:
            config = json.load(open(os.path.join(out, run["out_dir"], "config.json")))
            same_seed = [r for r in finetune["seeds"] if r["seed"] == run["seed"]][0]
            assert config["split"]["val_files"] == json.load(open(os.path.join(
                out, same_seed["out_dir"], "config.json")))["split"]["val_files"]
    # The p-value is the exact McNemar test on the discordant counts, which cannot exceed the test images.
    assert vs["only_first"] + vs["only_this"] <= 8 and 0 < vs["p_value"] <= 1
    assert vs["p_value"] == pytest.approx(mcnemar_exact([True] * vs["only_first"] + [False] * vs["only_this"],
                                                        [False] * vs["only_first"] + [True] * vs["only_this"])["p_value"])
    markdown = open(os.path.join(out, "results.md")).read()
    assert "95% interval" in markdown and "vs finetune" in markdown and "exact McNemar" in markdown
    assert ("not significant" in markdown) == (vs["p_value"] >= 0.05)
    assert "lowest validation loss" in markdown


def test_balanced_class_weights():
    loss = make_loss("balanced", {"a": 30, "b": 10}, [mx.cpu()])
    np.testing.assert_allclose(loss.weights, [40 / 60, 40 / 20])
    output = mx.nd.array([[2.0, 0.5], [0.1, 1.0], [1.0, 1.0]])
    label = mx.nd.array([0, 1, 1])
    plain = gluon.loss.SoftmaxCrossEntropyLoss()(output, label).asnumpy()
    np.testing.assert_allclose(loss(output, label).asnumpy(), plain * np.array([40 / 60, 2.0, 2.0]), rtol=1e-6)
    assert make_loss("none", {"a": 30, "b": 10}, [mx.cpu()]).__class__ is gluon.loss.SoftmaxCrossEntropyLoss


def test_bad_input_is_one_line_and_writes_nothing(tiny_data, tmp_path, capsys):
    out = str(tmp_path / "out")
    common = ["--data-dir", tiny_data, "--out", out, "--image-size", "32", "--epochs", "1"]
    starved = copy_without_caches(tiny_data, str(tmp_path / "starved"))
    for name in os.listdir(os.path.join(starved, "hotdog", "train", "hotdog"))[1:]:
        os.remove(os.path.join(starved, "hotdog", "train", "hotdog", name))  # one image left: none to spare
    odd_val = copy_without_caches(tiny_data, str(tmp_path / "odd"))
    shutil.copytree(os.path.join(odd_val, "hotdog", "test", "hotdog"), os.path.join(odd_val, "hotdog", "val", "cats"))
    cases = [
        (["train", "--val-fraction", "1.5"] + common, "--val-fraction must be between 0 and 1"),
        (["train", "--val-fraction", "0"] + common, "--val-fraction must be between 0 and 1"),
        (["compare", "--seeds", "0,one"] + common, "--seeds takes"),
        (["train", "--class-weight", "heavy"] + common, "invalid choice: 'heavy'"),
        (["train", "--data-dir", starved, "--out", out, "--image-size", "32"], "class 'hotdog'"),
        (["train", "--data-dir", odd_val, "--out", out, "--image-size", "32"], "val/"),
    ]
    for argv, message in cases:
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse's own refusal (exit status 2)
            code = exc.code
        captured = capsys.readouterr()
        assert code in (1, 2), argv
        assert message in captured.err, (argv, captured.err)
        assert "Traceback" not in captured.err, captured.err
        assert len([line for line in captured.err.splitlines() if "error:" in line]) == 1, captured.err
        assert not os.path.exists(os.path.join(out, "model.params"))
