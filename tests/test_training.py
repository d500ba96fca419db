"""The training engine: data parallelism, history, checkpoints, resume, divergence, predict, evaluate."""
import json
import logging
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon
from mxnet.gluon import nn
from PIL import Image

from hotdog import _mx, cli
from hotdog.errors import ConfigError, ConfigErrors, HotdogError
from hotdog.models.zoo import pretrained_net
from hotdog.train.config import TrainConfig
from hotdog.train.hooks import TrainingDiverged
from hotdog.train.loop import train
from hotdog.train.optim import make_lr_scheduler, make_trainer
from hotdog.train.run_dir import load_checkpoint_state
from hotdog.train.step import train_step

TWO_CPUS = [mx.cpu(0), mx.cpu(1)]


def tiny_config(data_dir, **overrides):
    values = dict(strategy="scratch", data_dir=data_dir, epochs=1, batch_size=5, image_size=32)
    values.update(overrides)
    return TrainConfig(**values)


def small_net_without_batchnorm():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, activation="relu"), nn.GlobalAvgPool2D(), nn.Dense(2))
    return net


def weights(net):
    return {k: p.data().asnumpy() for k, p in _mx.params_by_structural_name(net).items()}


@pytest.mark.parametrize("batch", [6, 5, 1])  # even split, uneven split, fewer samples than contexts
def test_one_step_on_two_contexts_equals_one_context(tmp_path, batch):
    mx.random.seed(1)
    reference = small_net_without_batchnorm()
    reference.initialize(mx.init.Xavier())
    reference(mx.nd.zeros((1, 3, 8, 8)))
    path = str(tmp_path / "init.params")
    reference.save_parameters(path)
    x = mx.nd.random.uniform(shape=(batch, 3, 8, 8))
    y = mx.nd.array(np.arange(batch) % 2)
    config = TrainConfig(strategy="scratch", lr=0.1, momentum=0.9, wd=0.01)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    results = []
    for contexts in ([mx.cpu(0)], TWO_CPUS):
        net = small_net_without_batchnorm()
        net.load_parameters(path, ctx=contexts)
        net.hybridize()
        trainer = make_trainer(net, config, contexts, iters_per_epoch=1)
        train_step(net, trainer, loss_fn, x, y, contexts)
        results.append(weights(net))
        if len(contexts) == 2:  # the replicas stay identical
            for p in net.collect_params().values():
                np.testing.assert_array_equal(p.data(contexts[0]).asnumpy(), p.data(contexts[1]).asnumpy())
    one, two = results
    initial = weights(reference)
    for name in one:
        assert not np.array_equal(one[name], initial[name]), name  # the step did change every weight
        np.testing.assert_allclose(one[name], two[name], atol=1e-5, rtol=0)


def test_resnet_trains_on_two_contexts_with_an_uneven_last_batch(tiny_data, tmp_path, caplog):
    # 16 training images in batches of 5: 5, 5, 5 and a last batch of 1, fewer than the 2 contexts.
    caplog.set_level(logging.INFO, logger="hotdog")
    result = train(tiny_config(tiny_data), str(tmp_path), TWO_CPUS)
    assert len(result["history"]) == 1
    record = result["history"][0]
    assert np.isfinite(record["train_loss"]) and 0 <= record["train_acc"] <= 1
    assert "cpu(0), cpu(1)" in caplog.text
    for name in ("history.json", "history.csv", "model.params", "config.json", "best.params"):
        assert os.path.exists(tmp_path / name)


@pytest.mark.parametrize("strategy", ["finetune", "scratch"])
def test_two_epochs_lower_the_training_loss(tiny_data, pretrained_params, tmp_path, strategy):
    # Full-batch gradient descent without augmentation: epoch 1's loss is measured at the initial weights,
    # epoch 2's after one step on the same deterministic objective, so a small step must lower it. (With
    # mini-batches of 4 and random crops, two epochs' mean losses on 16 images are too noisy to compare:
    # measured over 5 seeds, 1 or 2 of them went up.)
    pretrained = pretrained_net(params_file=pretrained_params[0])
    result = train(tiny_config(tiny_data, strategy=strategy, epochs=2, batch_size=16, lr=0.01, augment=False),
                   str(tmp_path), [mx.cpu()], pretrained=pretrained, quiet=True)
    first, second = (h["train_loss"] for h in result["history"])
    assert second < first - 0.1


def test_history_files(tiny_data, tmp_path):
    train(tiny_config(tiny_data, epochs=2), str(tmp_path), [mx.cpu()], quiet=True)
    with open(tmp_path / "history.json") as f:
        history = json.load(f)
    assert [h["epoch"] for h in history] == [1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "seconds",
                "train_images_per_sec"):
        assert all(np.isfinite(h[key]) for h in history), key
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,stage,lr,train_loss") and len(lines) == 3
    assert all(h["train_images"] == 14 for h in history)  # 16, less one validation image per class


def test_stopped_and_resumed_run_matches_an_uninterrupted_one(tiny_data, tmp_path):
    config = lambda epochs: tiny_config(tiny_data, epochs=epochs, momentum=0.9, lr=0.01)
    straight = train(config(2), str(tmp_path / "straight"), TWO_CPUS, quiet=True)
    train(config(1), str(tmp_path / "resumed"), TWO_CPUS, quiet=True)
    assert load_checkpoint_state(str(tmp_path / "resumed"))["epoch"] == 1
    resumed = train(config(2), str(tmp_path / "resumed"), TWO_CPUS, quiet=True, resume=True)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    # Same shuffles, augmentations, weights and momentum: the same training losses. (Test losses may
    # differ slightly: each context keeps its own BatchNorm statistics, which a reload averages.)
    for a, b in zip(straight["history"], resumed["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    a, b = mx.nd.load(straight["model"]), mx.nd.load(resumed["model"])
    for name in a:
        # Running statistics are averaged over the contexts when saved, so they may differ in the last
        # float32 bits; every learned weight must be identical.
        x, y = a[name].asnumpy(), b[name].asnumpy()
        if "running" in name:  # the averaging error scales with the statistics' magnitude
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * np.abs(x).max(), err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_resume_refuses_changed_settings(tiny_data, tmp_path):
    train(tiny_config(tiny_data), str(tmp_path), [mx.cpu()], quiet=True)
    with pytest.raises(HotdogError, match="cannot resume.*batch_size"):
        train(tiny_config(tiny_data, epochs=2, batch_size=4), str(tmp_path), [mx.cpu()], quiet=True, resume=True)


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path):
    train(tiny_config(tiny_data, lr=0.01), str(tmp_path), [mx.cpu()], quiet=True)
    good = mx.nd.load(load_checkpoint_state(str(tmp_path))["params"])
    # Resume for more epochs with a learning rate that blows the weights up.
    with pytest.raises(TrainingDiverged) as info:
        train(tiny_config(tiny_data, epochs=3, lr=1e12), str(tmp_path), [mx.cpu()], quiet=True, resume=True)
    message = str(info.value)
    assert "epoch 2" in message and "learning rate 1e+12" in message
    assert "last good checkpoint (epoch 1)" in message
    state = load_checkpoint_state(str(tmp_path))
    assert state["epoch"] == 1
    kept = mx.nd.load(state["params"])
    for name in good:
        np.testing.assert_array_equal(good[name].asnumpy(), kept[name].asnumpy())
    assert [h["epoch"] for h in json.loads((tmp_path / "history.json").read_text())] == [1]


def test_divergence_in_the_first_epoch(tiny_data, tmp_path):
    with pytest.raises(TrainingDiverged, match="epoch 1.*no epoch completed"):
        train(tiny_config(tiny_data, lr=1e12), str(tmp_path), [mx.cpu()], quiet=True)
    assert load_checkpoint_state(str(tmp_path)) is None


def test_early_stopping_keeps_the_best_epoch(tiny_data, pretrained_params, tmp_path):
    # A frozen backbone and a learning rate far below float32 resolution: no weight can move, so the
    # validation loss of epoch 2 equals epoch 1's, which is no improvement, and patience 1 must stop there.
    pretrained = pretrained_net(params_file=pretrained_params[0])
    result = train(tiny_config(tiny_data, strategy="frozen", epochs=6, patience=1, lr=1e-12), str(tmp_path),
                   [mx.cpu()], pretrained=pretrained, quiet=True)
    history, best = result["history"], result["best"]
    assert result["stopped_early"] and [h["epoch"] for h in history] == [1, 2]
    assert history[0]["val_loss"] == history[1]["val_loss"] and best["epoch"] == 1
    model, kept = mx.nd.load(str(tmp_path / "model.params")), mx.nd.load(str(tmp_path / "best.params"))
    for name in model:
        np.testing.assert_array_equal(model[name].asnumpy(), kept[name].asnumpy())


def test_early_stopping_restores_the_best_weights_not_the_last(tiny_data, tmp_path):
    # lr 0.5 from scratch on 16 images: the validation loss swings. Whatever epoch was best, model.params must
    # be that epoch's weights (best.params), not the last epoch's (the last checkpoint).
    result = train(tiny_config(tiny_data, epochs=3, patience=5, lr=0.5), str(tmp_path), [mx.cpu()], quiet=True)
    history, best = result["history"], result["best"]
    assert best["val_loss"] == min(h["val_loss"] for h in history)
    model, kept = mx.nd.load(str(tmp_path / "model.params")), mx.nd.load(str(tmp_path / "best.params"))
    for name in model:
        np.testing.assert_array_equal(model[name].asnumpy(), kept[name].asnumpy())


def test_bad_settings_are_refused_naming_the_parameter():
    for bad, param in ((dict(lr=0), "lr"), (dict(lr=float("nan")), "lr"), (dict(epochs=0), "epochs"),
                       (dict(lr_schedule="linear"), "lr_schedule"), (dict(strategy="partial:9"), "strategy"),
                       (dict(patience=0), "patience"), (dict(crop_scale=[0.9, 0.2]), "crop_scale"),
                       (dict(crop_scale=[0, 1]), "crop_scale"), (dict(crop_scale=[0.5]), "crop_scale"),
                       (dict(crop_scale="big"), "crop_scale"), (dict(crop_scale="11"), "crop_scale"),
                       (dict(epochs="3"), "epochs"), (dict(batch_size=2.5), "batch_size"),
                       (dict(workers=-1), "workers"), (dict(workers=True), "workers")):
        with pytest.raises(ConfigError) as info:
            TrainConfig(**dict(dict(strategy="scratch"), **bad))
        assert info.value.param == param and str(info.value).startswith(param + " ")
        assert "--" not in str(info.value)  # the library speaks Python; the command line says --flags


def test_numpy_counts_are_accepted_and_saved_as_plain_numbers():
    config = TrainConfig(strategy="scratch", epochs=np.int64(3), batch_size=np.int32(8), workers=np.uint8(0))
    saved = json.loads(json.dumps(config.to_dict()))  # what config.json and checkpoints hold
    assert (saved["epochs"], saved["batch_size"], saved["workers"]) == (3, 8, 0)


def test_every_wrong_setting_is_named_at_once():
    with pytest.raises(ConfigErrors) as info:
        TrainConfig(strategy="melted", epochs=0, batch_size=0)
    assert [e.param for e in info.value.errors] == ["strategy", "epochs", "batch_size"]


def test_the_command_line_names_flags(tiny_data, capsys):
    assert cli.main(["train", "--epochs", "0", "--batch-size", "0", "--data-dir", tiny_data]) == 1
    err = capsys.readouterr().err
    assert "--epochs must be at least 1 (got 0)" in err and "--batch-size must be at least 1" in err, err


def test_crop_scale_from_the_command_line(capsys):
    with pytest.raises(SystemExit) as info:  # argparse's own exit for a malformed value: code 2, one line
        cli.main(["train", "--crop-scale", "half"])
    assert info.value.code == 2
    assert "--crop-scale: takes the smallest and largest share of the image, e.g. 0.08,1 (got 'half')" in \
        capsys.readouterr().err
    assert TrainConfig(strategy="scratch", crop_scale=(0.3, 1)).crop_scale == [0.3, 1.0]  # as saved in JSON


def test_lr_schedules_with_warmup():
    config = TrainConfig(strategy="scratch", lr=0.1, epochs=4, lr_schedule="cosine", warmup_epochs=1)
    cosine = make_lr_scheduler(config, iters_per_epoch=10)
    assert cosine(0) == pytest.approx(0.0) and cosine(5) == pytest.approx(0.05)
    assert cosine(10) == pytest.approx(0.1) and cosine(40) == pytest.approx(0.0, abs=1e-9)
    step = make_lr_scheduler(TrainConfig(strategy="scratch", lr=0.1, epochs=4, lr_schedule="step",
                                         lr_steps=[2]), iters_per_epoch=10)
    assert step(15) == pytest.approx(0.1) and step(25) == pytest.approx(0.01)
    assert make_lr_scheduler(TrainConfig(strategy="scratch"), 10) is None


@pytest.fixture(scope="module")
def trained_dir(tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("trained"))
    code = cli.main(["train", "--strategy", "scratch", "--cpu-contexts", "2", "--image-size", "32", "--epochs", "1",
                     "--batch-size", "8", "--data-dir", tiny_data, "--out", out, "-q"])
    assert code == 0
    return out


def test_predict_answers_every_readable_image(trained_dir, tiny_data, tmp_path, capsys):
    good = os.path.join(tiny_data, "hotdog", "test", "hotdog", "1000.png")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    jpeg = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 30), (200, 100, 50)).save(str(jpeg))
    code = cli.main(["predict", good, str(bad), str(jpeg), "--model-dir", trained_dir])
    captured = capsys.readouterr()
    assert code == 1  # one file could not be read...
    answered = [line.split("\t") for line in captured.out.strip().splitlines()]
    assert [a[0] for a in answered] == [good, str(jpeg)]  # ...and the others still got answers
    for _, label, probability in answered:
        assert label in ("hotdog", "not-hotdog") and 0.5 <= float(probability) <= 1.0
    assert "notes.png: not an image" in captured.err and "1 of 3 file(s)" in captured.err
    assert "Traceback" not in captured.err


def test_evaluate_prints_metrics_and_confusion(trained_dir, capsys):
    assert cli.main(["evaluate", "--model-dir", trained_dir]) == 0
    out = capsys.readouterr().out
    assert "8 images in the test split" in out
    for word in ("accuracy", "precision", "recall", "confusion matrix"):
        assert word in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("hotdog ", "not-hotdog "))]
    assert sum(int(v) for row in rows for v in row[1:]) == 8


def test_config_json_rebuilds_without_the_command_line(trained_dir):
    with open(os.path.join(trained_dir, "config.json")) as f:
        config = json.load(f)
    assert config["model"] == "resnet18_v2" and config["classes"] == ["hotdog", "not-hotdog"]
    assert config["image_size"] == 32 and config["strategy"] == "scratch"


def test_cli_train_writes_everything_and_names_contexts(tiny_data, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli.main(["train", "--strategy", "scratch", "--cpu-contexts", "2", "--image-size", "32", "--epochs", "2",
                     "--batch-size", "8", "--data-dir", tiny_data, "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "cpu(0), cpu(1)" in printed and "epoch 2/2" in printed
    assert sorted(os.listdir(os.path.join(out, "checkpoint"))) == ["epoch-2.params", "epoch-2.states", "state.json"]
