"""Your own image folders: any class names, any number of classes."""
import json
import os

import mxnet as mx
import pytest

from hotdog import cli
from hotdog.data.synthetic import make_image_folder, source_kind
from hotdog.experiments.compare import compare
from hotdog.models.zoo import pretrained_net
from hotdog.train.config import TrainConfig

FOODS = ("cake", "donut", "pizza")


@pytest.fixture(scope="module")
def foods_dir(tmp_path_factory):
    """DIR/{train,test}/{cake,donut,pizza}/ of synthetic drawings (no hotdog anywhere)."""
    data_dir = str(tmp_path_factory.mktemp("foods"))
    make_image_folder(data_dir, n_train=5, n_test=3, seed=4, classes=FOODS, kind_of=source_kind,
                      size_range=(150, 200))
    return data_dir


def test_train_evaluate_predict_on_three_classes(foods_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli.main(["train", "--strategy", "scratch", "--data-dir", foods_dir, "--image-size", "32",
                     "--epochs", "1", "--batch-size", "5", "--out", out, "-q"]) == 0
    config = json.loads(open(os.path.join(out, "config.json")).read())
    assert config["classes"] == list(FOODS)
    assert cli.main(["evaluate", "--model-dir", out]) == 0
    printed = capsys.readouterr().out
    assert "9 images in the test split" in printed and "per class" in printed
    assert all(name in printed for name in FOODS)
    image = os.path.join(foods_dir, "test", "pizza", "1000.png")
    assert cli.main(["predict", image, "--model-dir", out]) == 0
    path, label, probability = capsys.readouterr().out.strip().split("\t")
    assert label in FOODS and 1 / 3 <= float(probability) <= 1


def test_compare_on_own_folders_and_hotdog_init_refused(foods_dir, pretrained_params, tmp_path):
    pretrained = pretrained_net(params_file=pretrained_params[0])
    base = TrainConfig(strategy="finetune", data_dir=foods_dir, epochs=1, batch_size=5, image_size=32)
    results = compare(["finetune", "scratch", "hotdog-init"], base, str(tmp_path), [mx.cpu()],
                      pretrained=pretrained, quiet=True)
    statuses = {row["name"]: row["status"] for row in results["strategies"]}
    assert statuses == {"finetune": "ok", "scratch": "ok", "hotdog-init": "failed"}
    failed = [row for row in results["strategies"] if row["name"] == "hotdog-init"][0]
    assert "hotdog-init needs the classes hotdog, not-hotdog" in failed["error"]
    assert os.path.exists(tmp_path / "samples.png")
