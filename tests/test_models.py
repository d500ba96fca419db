"""Model surgery, freezing strategies and the ImageNet hotdog class, with weights made in the test."""
import mxnet as mx
import numpy as np
import pytest
from conftest import PLANTED_CLASS
from mxnet import autograd, gluon
from mxnet.gluon.model_zoo.vision import get_model

from hotdog import _mx, cli
from hotdog.data.layout import HOTDOG_LABEL, NOT_HOTDOG_LABEL
from hotdog.errors import ConfigError, HotdogError
from hotdog.evaluate.zeroshot import zeroshot
from hotdog.models import backbones, imagenet, strategies, surgery, zoo


@pytest.fixture(scope="module")
def pretrained(pretrained_params):
    return zoo.pretrained_net("resnet18_v2", params_file=pretrained_params[0])


def snapshot(block):
    """Structural name -> numpy copy of every parameter (running statistics included)."""
    return {name: p.data().asnumpy().copy() for name, p in _mx.params_by_structural_name(block).items()}


def one_training_step(net, image_size=32, batch=4, lr=0.5):
    net.hybridize()
    trainer = gluon.Trainer(surgery.trainable_params(net), "sgd", {"learning_rate": lr, "wd": 0.001})
    x = mx.nd.random.uniform(shape=(batch, 3, image_size, image_size))
    y = mx.nd.array([0, 1] * (batch // 2))
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y)
    loss.backward()
    trainer.step(batch)
    mx.nd.waitall()


def changed(before, after):
    return {name for name in before if not np.array_equal(before[name], after[name], equal_nan=True)}


def test_finetune_net_copies_features_and_has_a_new_output(pretrained):
    net = strategies.build_net("finetune", pretrained=pretrained)
    pre, fine = snapshot(pretrained.features), snapshot(net.features)
    assert pre.keys() == fine.keys()
    for name in pre:
        np.testing.assert_array_equal(pre[name], fine[name])
    assert net.output.weight.shape == (2, 512)
    assert np.abs(net.output.weight.data().asnumpy()).sum() > 0
    # Copied, not shared: training the fine-tune net leaves the pretrained net as it was.
    one_training_step(net)
    assert changed(pre, snapshot(pretrained.features)) == set()
    assert changed(pre, snapshot(net.features))


def test_scratch_net_shares_nothing(pretrained):
    net = strategies.build_net("scratch")
    pre_params = set(id(p) for p in pretrained.collect_params().values())
    assert not pre_params & set(id(p) for p in net.collect_params().values())
    pre, scratch = snapshot(pretrained.features), snapshot(net.features)
    different = [n for n in pre if n.endswith("weight") and not np.array_equal(pre[n], scratch[n])]
    assert len(different) == len([n for n in pre if n.endswith("weight")])


def test_output_lr_mult(pretrained):
    net = strategies.build_net("finetune", pretrained=pretrained, output_lr_mult=10)
    assert all(p.lr_mult == 10 for p in net.output.collect_params().values())
    assert all(p.lr_mult == 1 for p in net.features.collect_params().values())


def test_frozen_changes_only_the_output(pretrained):
    net = strategies.build_net("frozen", pretrained=pretrained)
    before = snapshot(net)
    one_training_step(net)
    diff = changed(before, snapshot(net))
    assert diff == {"output.weight", "output.bias"}  # no feature weight, no BatchNorm statistic moved


def test_frozen_features_behave_the_same_in_training_and_inference(pretrained):
    # Frozen BatchNorm uses its running statistics, so training mode does not change the features;
    # the fine-tune net's BatchNorm uses batch statistics in training mode.
    x = mx.nd.random.uniform(shape=(4, 3, 32, 32))
    for strategy, same in (("frozen", True), ("finetune", False)):
        net = strategies.build_net(strategy, pretrained=pretrained)
        with autograd.record(train_mode=True):
            in_training = net.features(x).asnumpy()
        in_inference = net.features(x).asnumpy()
        assert np.allclose(in_training, in_inference, atol=1e-5) == same, strategy


@pytest.mark.parametrize("k", [1, 2])
def test_partial_changes_exactly_the_last_k_stages(pretrained, k):
    net = strategies.build_net("partial:{}".format(k), pretrained=pretrained)
    before = snapshot(net)
    one_training_step(net)
    diff = changed(before, snapshot(net))
    first_trainable = backbones.BACKBONES["resnet18_v2"].stage_starts[-k]
    index = lambda name: int(name.split(".")[1])  # features.<child>.<...>
    feature_diff = {n for n in diff if n.startswith("features.")}
    assert {"output.weight", "output.bias"} <= diff
    assert all(index(n) >= first_trainable for n in feature_diff)
    # Every stage that should learn did learn.
    assert {index(n) for n in feature_diff} >= set(range(first_trainable, 9))


def test_partial_k_out_of_range():
    with pytest.raises(ConfigError, match="from 1 to 4"):
        strategies.parse_strategy("partial:5")
    with pytest.raises(ConfigError, match="strategy must be one of finetune, .*partial:K"):
        strategies.parse_strategy("melted")


def test_registry_stage_indices_point_at_stages():
    for backbone in backbones.BACKBONES.values():
        children = _mx.child_blocks(get_model(backbone.zoo_name, classes=2).features)
        for i in backbone.stage_starts:
            assert type(children[i]).__name__ in ("HybridSequential", "LinearBottleneck"), (backbone.name, i)
    with pytest.raises(ConfigError, match="model must be one of resnet18_v2, resnet18_v1"):
        backbones.get_backbone("vgg11")


def test_imagenet_class_lookup_and_the_book_erratum():
    assert imagenet.class_index("hotdog") == 934
    assert imagenet.class_index("n07697537") == 934
    assert imagenet.class_name(imagenet.BOOK_ROW) == "photocopier"
    assert imagenet.class_index("713") == 713
    with pytest.raises(HotdogError, match="did you mean: hotdog"):
        imagenet.class_index("hotdgo")


def test_hotdog_init_puts_the_planted_row_under_the_hotdog_label(pretrained, pretrained_params):
    _, row, bias = pretrained_params
    net = strategies.build_net("hotdog-init", pretrained=pretrained)
    weight = net.output.weight.data().asnumpy()
    np.testing.assert_array_equal(weight[HOTDOG_LABEL], row)
    full = pretrained.output.weight.data().asnumpy()
    others = np.delete(full, PLANTED_CLASS, axis=0).mean(axis=0)
    np.testing.assert_allclose(weight[NOT_HOTDOG_LABEL], others, rtol=1e-5, atol=1e-7)
    assert net.output.bias.data().asnumpy()[HOTDOG_LABEL] == pytest.approx(bias)
    book = strategies.build_net("hotdog-init", pretrained=pretrained, imagenet_class=713)
    np.testing.assert_array_equal(book.output.weight.data().asnumpy()[HOTDOG_LABEL], full[713])


def test_zeroshot_on_a_tiny_split(pretrained_params, tiny_data):
    net = zoo.pretrained_net("resnet18_v2", params_file=pretrained_params[0])
    # Make ImageNet's hotdog class win every argmax: every image is then called "hotdog".
    bias = net.output.bias.data().asnumpy()
    bias[PLANTED_CLASS] = 1e4
    net.output.bias.set_data(mx.nd.array(bias))
    report = zeroshot(net, tiny_data, image_size=32, batch_size=3)
    assert report["n"] == 8 and report["recall"] == 1.0
    assert report["precision"] == 0.5 and report["accuracy"] == 0.5
    assert report["confusion"] == [[4, 0], [4, 0]]
    # With the book's row 713 nothing is called hotdog.
    book = zeroshot(net, tiny_data, image_size=32, batch_size=3, imagenet_class=713)
    assert book["recall"] == 0.0 and book["imagenet_class_name"] == "photocopier"
    # The probability rule: a threshold above any softmax value calls nothing hotdog.
    assert zeroshot(net, tiny_data, image_size=32, threshold=1.01)["recall"] == 0.0


def test_zeroshot_cli_prints_three_figures(pretrained_params, tiny_data, capsys):
    code = cli.main(["zeroshot", "--pretrained-params", pretrained_params[0], "--data-dir", tiny_data,
                     "--image-size", "32"])
    assert code == 0
    out = capsys.readouterr().out
    for figure in ("accuracy", "precision", "recall"):
        assert figure in out
    assert "934 'hotdog'" in out


def test_truncated_params_file(pretrained_params, tmp_path):
    path = tmp_path / "truncated.params"
    with open(pretrained_params[0], "rb") as f:
        path.write_bytes(f.read()[:100000])
    with pytest.raises(zoo.ParamsError, match="truncated"):
        zoo.pretrained_net("resnet18_v2", params_file=str(path))


def test_mismatched_params_file_names_the_parameter(tmp_path):
    other = get_model("resnet18_v1", classes=1000)
    other.initialize()
    other(mx.nd.zeros((1, 3, 32, 32)))
    path = str(tmp_path / "v1.params")
    other.save_parameters(path)
    with pytest.raises(zoo.ParamsError, match=r"parameter 'features\.\d+\.\w+'"):
        zoo.pretrained_net("resnet18_v2", params_file=path)
    two_class = get_model("resnet18_v2", classes=2)
    two_class.initialize()
    two_class(mx.nd.zeros((1, 3, 32, 32)))
    two_class.save_parameters(path)
    with pytest.raises(zoo.ParamsError, match=r"'output.weight' has shape \(2, 512\)"):
        zoo.pretrained_net("resnet18_v2", params_file=path)


def test_missing_params_file(tmp_path):
    with pytest.raises(zoo.ParamsError, match="does not exist"):
        zoo.pretrained_net("resnet18_v2", params_file=str(tmp_path / "nope.params"))


def test_offline_model_zoo_gives_one_clear_message(http_server, tmp_path, monkeypatch, capsys):
    # The zoo's mirror is a loopback server that has nothing (404), and its cache is empty.
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    monkeypatch.setenv("MXNET_GLUON_REPO", http_server.url("/"))
    with pytest.raises(zoo.PretrainedUnavailableError) as info:
        zoo.pretrained_net("resnet18_v2")
    message = str(info.value)
    assert "resnet18_v2-a81db45f.params" in message and "--pretrained-params" in message
    assert str(tmp_path / "mxnet-home" / "models") in message
    assert any("resnet18_v2-a81db45f.zip" in path for path, _ in http_server.requests)
    assert "retrying" not in capsys.readouterr().out


@pytest.mark.parametrize("name", ["resnet18_v1", "resnet50_v2", "mobilenet_v2_1_0"])
def test_other_backbones_support_every_strategy(name, tmp_path):
    # A random 1000-class net of that architecture, saved and loaded like downloaded weights.
    source = get_model(backbones.BACKBONES[name].zoo_name, classes=1000)
    source.initialize(mx.init.Xavier())
    source(mx.nd.zeros((1, 3, 32, 32)))
    path = str(tmp_path / "weights.params")
    source.save_parameters(path)
    pretrained = zoo.pretrained_net(name, params_file=path)
    for strategy in ("finetune", "frozen", "partial:1", "hotdog-init"):
        net = strategies.build_net(strategy, model=name, pretrained=pretrained)
        before = snapshot(net)
        one_training_step(net, lr=0.1)
        diff = changed(before, snapshot(net))
        assert any(n.startswith("output.") for n in diff), (name, strategy, sorted(diff))
        if strategy == "frozen":
            assert all(n.startswith("output.") for n in diff), (name, strategy, sorted(diff))
    def output_weight(net):
        return [p for n, p in net.output.collect_params().items() if n.endswith("weight")][0].data().asnumpy()

    net = strategies.build_net("hotdog-init", model=name, pretrained=pretrained)
    np.testing.assert_array_equal(output_weight(net)[HOTDOG_LABEL], output_weight(pretrained)[PLANTED_CLASS])
