"""hotdog/models/export.py: an exported model must answer exactly like the trained net with the package's preprocessing.

A small resnet18_v2 (2 classes, 48 px crops), trained for a few steps on made-up images of two kinds so that
its answers mean something, is exported as MXNet fp32, ONNX and MXNet int8; the exports are run on PNG and
JPEG files (square and not) and compared with the net fed by the package's test transform.
"""
import json
import os
import re
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon.data.vision import transforms
from PIL import Image

from hotdog.errors import HotdogError
from hotdog.models import export

S = 48                       # crop side: small, so the file runs in seconds
R = int(round(S * 256 / 224))  # the package's test-time resize side (55)
CLASSES = ["hotdog", "not-hotdog"]
# The package's test transform (hotdog/data/transforms.py test_transform), written out.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
PACKAGE_TEST_TRANSFORM = transforms.Compose([
    transforms.Resize(R), transforms.CenterCrop(S), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
TOL = 1e-5


def _make_image(rng, kind, width, height):
    """Kind 0: warm with horizontal stripes; kind 1: cool with vertical stripes; plus noise."""
    y, x = np.mgrid[0:height, 0:width]
    stripes = (np.sin((y if kind == 0 else x) * rng.uniform(0.3, 0.6)) > 0).astype(np.float32)
    base = np.array([200, 90, 40] if kind == 0 else [40, 110, 210], np.float32)
    image = base * (0.6 + 0.4 * stripes[..., None]) + rng.normal(0, 25, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _write_images(folder, rng, count, prefix):
    sizes = [(64, 64), (90, 50), (40, 72), (57, 61), (120, 80), (48, 48)]
    items = []
    for i in range(count):
        kind = i % 2
        width, height = sizes[i % len(sizes)]
        ext = ".jpg" if i % 3 == 0 else ".png"
        path = os.path.join(folder, "{}{:02d}{}".format(prefix, i, ext))
        Image.fromarray(_make_image(rng, kind, width, height)).save(path, quality=90)
        items.append((path, kind))
    # a greyscale PNG: decoded as RGB by the package and by preprocess_file alike
    grey = os.path.join(folder, prefix + "grey.png")
    Image.fromarray(_make_image(rng, 1, 70, 45).mean(axis=2).astype(np.uint8), mode="L").save(grey)
    items.append((grey, 1))
    return items


def _package_probs(net, paths):
    """What the package computes: imread, its test transform, the net, softmax."""
    batch = mx.nd.stack(*[PACKAGE_TEST_TRANSFORM(mx.image.imread(p)) for p in paths])
    return mx.nd.softmax(net(batch)).asnumpy()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.RandomState(7)
    return {"train": _write_images(str(folder), rng, 24, "train"), "test": _write_images(str(folder), rng, 12, "test")}


@pytest.fixture(scope="module")
def net(images):
    """A randomly initialised resnet18_v2 whose output layer is then trained on the two kinds of images, so
    that its answers differ from image to image and its top-1 is not a coin flip. (Only the output layer:
    training the whole net would take most of this file's time budget on 2 busy cores.)"""
    mx.random.seed(3)
    np.random.seed(3)
    model = mx.gluon.model_zoo.vision.get_model("resnet18_v2", classes=2)
    model.initialize(mx.init.Xavier())
    model.hybridize()
    paths, labels = zip(*images["train"])
    features = model.features(mx.nd.stack(*[PACKAGE_TEST_TRANSFORM(mx.image.imread(p)) for p in paths]))
    y = mx.nd.array(labels)
    trainer = mx.gluon.Trainer(model.output.collect_params(), "adam", {"learning_rate": 0.01})
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(60):
        with mx.autograd.record():
            loss = loss_fn(model.output(features), y)
        loss.backward()
        trainer.step(len(paths))
    return model


@pytest.fixture(scope="module")
def test_paths(images):
    return [p for p, _ in images["test"]]


@pytest.fixture(scope="module")
def mxnet_export(net, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("exports") / "fp32")
    export.export_model(net, CLASSES, S, out, extra_info={"hotdog_version": "9.9.9-test"})
    return out


def _leftovers(parent):
    """Hidden temporary folders export_model may have left next to its output."""
    return [name for name in os.listdir(parent) if name.startswith(".")]


# ------------------------------------------------------------------------------------------ preprocessing

def test_preprocess_file_gives_the_package_pixels(test_paths):
    resize, crop = transforms.Resize(R), transforms.CenterCrop(S)
    assert export.resize_size(S) == R and export.resize_size(224) == 256
    assert export.MEAN == MEAN and export.STD == STD
    for path in test_paths:
        expected = crop(resize(mx.image.imread(path))).asnumpy()
        got = export.preprocess_file(path, S)
        assert got.dtype == np.uint8 and got.shape == (S, S, 3)
        np.testing.assert_array_equal(got, expected, err_msg=path)


def test_preprocessed_net_matches_package_transform(net, test_paths):
    prepped = export.PreprocessedNet(net)
    batch = mx.nd.array(np.stack([export.preprocess_file(p, S) for p in test_paths]), dtype="uint8")
    got = prepped(batch).asnumpy()
    expected = _package_probs(net, test_paths)
    assert got.shape == (len(test_paths), 2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    # and the probabilities are not all alike: the comparison can tell preprocessing bugs apart
    assert np.ptp(expected[:, 0]) > 0.05


def test_preprocess_file_names_an_unreadable_file(tmp_path):
    bad = tmp_path / "not-an-image.jpg"
    bad.write_bytes(b"this is text")
    with pytest.raises(HotdogError, match="not-an-image.jpg"):
        export.preprocess_file(str(bad), S)
    with pytest.raises(HotdogError, match="missing.png: cannot read the file"):
        export.preprocess_file(str(tmp_path / "missing.png"), S)


# ------------------------------------------------------------------------------------------ MXNet export

@pytest.mark.filterwarnings("ignore:Cannot decide type")  # SymbolBlock.imports always says it
def test_mxnet_export_answers_like_the_package(net, mxnet_export, test_paths):
    assert sorted(os.listdir(mxnet_export)) == sorted(
        ["model-symbol.json", "model-0000.params", "labels.json", "preprocessing.json", "export.json"])
    # plain MXNet, as a user would load it
    loaded = mx.gluon.SymbolBlock.imports(os.path.join(mxnet_export, "model-symbol.json"), ["data"],
                                          os.path.join(mxnet_export, "model-0000.params"))
    batch = np.stack([export.preprocess_file(p, S) for p in test_paths])
    expected = _package_probs(net, test_paths)
    np.testing.assert_allclose(loaded(mx.nd.array(batch, dtype="uint8")).asnumpy(), expected, rtol=0, atol=TOL)
    predictor = export.load_exported(mxnet_export)
    np.testing.assert_allclose(predictor(batch), expected, rtol=0, atol=TOL)
    results = predictor.predict_files(test_paths)
    assert [r["label"] for r in results] == [CLASSES[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose([r["probability"] for r in results], expected.max(axis=1), rtol=0, atol=TOL)


def test_mxnet_export_describes_itself(mxnet_export):
    def read(name):
        with open(os.path.join(mxnet_export, name)) as f:
            return json.load(f)
    assert read("labels.json") == CLASSES
    prep = read("preprocessing.json")
    assert prep["input"]["layout"] == "NHWC" and prep["input"]["dtype"] == "uint8"
    assert prep["input"]["shape"] == [None, S, S, 3]
    assert (prep["resize"]["width"], prep["resize"]["height"], prep["resize"]["keep_aspect_ratio"]) == (R, R, False)
    assert (prep["crop"]["width"], prep["crop"]["height"]) == (S, S)
    assert prep["crop"]["offset_x"] == prep["crop"]["offset_y"] == (R - S) // 2
    assert prep["inside_the_graph"]["mean"] == list(MEAN) and prep["inside_the_graph"]["std"] == list(STD)
    assert "labels.json" in prep["output"]["meaning"] and prep["output"]["shape"] == [None, 2]
    info = read("export.json")
    assert info["format"] == "mxnet" and info["int8"] is False
    assert info["hotdog_version"] == "9.9.9-test"
    assert not _leftovers(os.path.dirname(mxnet_export))
    assert oct(os.stat(mxnet_export).st_mode & 0o777) != oct(0o700), "the folder kept a temp folder's mode"


@pytest.mark.filterwarnings("ignore:Cannot decide type")
def test_reexporting_an_export_does_not_normalise_twice(net, mxnet_export, tmp_path, test_paths):
    loaded = mx.gluon.SymbolBlock.imports(os.path.join(mxnet_export, "model-symbol.json"), ["data"],
                                          os.path.join(mxnet_export, "model-0000.params"))
    out = str(tmp_path / "again")
    export.export_model(loaded, CLASSES, S, out)
    assert json.load(open(os.path.join(out, "export.json")))["int8"] is False
    symbol = json.load(open(os.path.join(out, "model-symbol.json")))
    assert [n["op"] for n in symbol["nodes"]].count("Cast") == 1
    batch = np.stack([export.preprocess_file(p, S) for p in test_paths])
    np.testing.assert_allclose(export.load_exported(out)(batch), _package_probs(net, test_paths), rtol=0, atol=TOL)


@pytest.mark.filterwarnings("ignore:Cannot decide type")
def test_docstring_example_runs_without_hotdog(net, mxnet_export, test_paths, capsys):
    """The few lines the docs show (load_exported's docstring) work as written, with plain MXNet."""
    doc = export.load_exported.__doc__
    code = textwrap.dedent(doc[doc.index("::") + 2:])
    assert "hotdog" not in code
    path = test_paths[1]  # 90 x 50: not square
    code = code.replace('"exported"', repr(mxnet_export)).replace('"photo.jpg"', repr(path))
    exec(compile(code, "load_exported-docstring", "exec"), {})  # pylint: disable=exec-used
    label, prob = capsys.readouterr().out.split()
    expected = _package_probs(net, [path])[0]
    assert label == CLASSES[int(expected.argmax())]
    assert abs(float(prob) - expected.max()) < TOL


# ------------------------------------------------------------------------------------------ ONNX export

def test_onnx_export_answers_like_the_package(net, tmp_path, test_paths):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    out = str(tmp_path / "onnx")
    export.export_model(net, CLASSES, S, out, fmt="onnx", extra_info={"hotdog_version": "9.9.9-test"})
    assert sorted(os.listdir(out)) == sorted(["model.onnx", "labels.json", "preprocessing.json", "export.json"])
    assert not _leftovers(str(tmp_path))
    model = onnx.load(os.path.join(out, "model.onnx"))
    assert [i.name for i in model.graph.input] == ["data"], "initializers must not be graph inputs"
    assert [o.name for o in model.graph.output] == ["probabilities"]
    assert len(model.graph.initializer) > 50
    predictor = export.load_onnx(out)
    batch = np.stack([export.preprocess_file(p, S) for p in test_paths])
    expected = _package_probs(net, test_paths)
    np.testing.assert_allclose(predictor(batch), expected, rtol=0, atol=TOL)
    np.testing.assert_allclose(predictor(batch[:1]), expected[:1], rtol=0, atol=TOL)  # any batch size
    info = json.load(open(os.path.join(out, "export.json")))
    assert info["format"] == "onnx" and info["int8"] is False and info["hotdog_version"] == "9.9.9-test"
    with pytest.raises(HotdogError, match="load_onnx"):
        export.load_exported(out)


def test_onnx_export_without_onnx_says_what_to_install(net, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    # the extra, which pins the releases that exist for this Python (onnxruntime 1.24.4 is 3.11+ only)
    with pytest.raises(HotdogError, match=re.escape("pip install 'hotdog-finetune[onnx]'")):
        export.export_model(net, CLASSES, S, str(tmp_path / "out"), fmt="onnx")
    assert os.listdir(str(tmp_path)) == []


# ------------------------------------------------------------------------------------------ int8

def test_int8_export_mostly_agrees_with_fp32(net, images, tmp_path, test_paths):
    calibration = [np.stack([export.preprocess_file(p, S) for p, _ in images["train"][i:i + 8]])
                   for i in range(0, 24, 8)]
    out = str(tmp_path / "int8")
    export.export_model(net, CLASSES, S, out, int8=True, calibration=calibration)
    info = json.load(open(os.path.join(out, "export.json")))
    assert info["int8"] is True and info["format"] == "mxnet"
    symbol = open(os.path.join(out, "model-symbol.json")).read()
    assert "_contrib_quantize_v2" in symbol, "the exported graph is not quantized"
    predictor = export.load_exported(out)
    batch = np.stack([export.preprocess_file(p, S) for p in test_paths])
    fp32 = _package_probs(net, test_paths)
    int8 = predictor(batch)
    assert int8.shape == fp32.shape
    np.testing.assert_allclose(int8.sum(axis=1), 1, atol=1e-5)
    agreement = float(np.mean(int8.argmax(axis=1) == fp32.argmax(axis=1)))
    assert agreement >= 0.9, "int8 top-1 agrees with fp32 on {:.0%} of the images".format(agreement)
    assert np.abs(int8 - fp32).mean() < 0.03  # measured: 0.004 (largest 0.014)
    assert np.abs(int8 - fp32).max() > 0, "int8 answers exactly like fp32: is it quantized at all?"
    # re-loaded with plain MXNet, it is still known as int8: ONNX refused, MXNet re-export says int8
    reloaded = predictor.net
    with pytest.raises(HotdogError, match="int8"):
        export.export_model(reloaded, CLASSES, S, str(tmp_path / "again.onnx"), fmt="onnx")
    export.export_model(reloaded, CLASSES, S, str(tmp_path / "again"))
    assert json.load(open(str(tmp_path / "again" / "export.json")))["int8"] is True
    np.testing.assert_allclose(export.load_exported(str(tmp_path / "again"))(batch), int8, rtol=0, atol=TOL)


def test_int8_needs_calibration_and_mxnet_format(net, tmp_path):
    with pytest.raises(HotdogError, match="calibration"):
        export.export_model(net, CLASSES, S, str(tmp_path / "a"), int8=True)
    with pytest.raises(HotdogError, match="calibration"):
        export.export_model(net, CLASSES, S, str(tmp_path / "b"), int8=True, calibration=[])
    with pytest.raises(HotdogError, match="fmt='mxnet'"):
        export.export_model(net, CLASSES, S, str(tmp_path / "c"), fmt="onnx", int8=True, calibration=[])
    assert os.listdir(str(tmp_path)) == []


# ------------------------------------------------------------------------------------------ failures

def _fail_mid_export(monkeypatch, fmt):
    """The exporter writes part of its file, then fails."""
    def partial_then_fail(*args, **kwargs):
        path = kwargs.get("onnx_file_path") if fmt == "onnx" else args[-1] + "-symbol.json"
        with open(path, "w") as f:
            f.write("{ half a fi")
        raise RuntimeError("disk full (simulated)")
    if fmt == "onnx":
        from mxnet import onnx as mx_onnx
        monkeypatch.setattr(mx_onnx, "export_model", partial_then_fail)
    else:
        monkeypatch.setattr(export.PreprocessedNet, "export",
                            lambda self, prefix, epoch=0: partial_then_fail(prefix))


@pytest.mark.parametrize("fmt", ["mxnet", "onnx"])
def test_failed_export_leaves_nothing(net, tmp_path, monkeypatch, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")
    _fail_mid_export(monkeypatch, fmt)
    out = tmp_path / "exports" / "model"
    with pytest.raises(RuntimeError, match="simulated"):
        export.export_model(net, CLASSES, S, str(out), fmt=fmt)
    assert not out.exists()
    assert os.listdir(str(tmp_path / "exports")) == [], "a temporary folder was left behind"


def test_failed_overwrite_keeps_the_old_export(net, tmp_path, monkeypatch):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.txt").write_text("the previous export")
    with pytest.MonkeyPatch.context() as patch:
        _fail_mid_export(patch, "mxnet")
        with pytest.raises(RuntimeError, match="simulated"):
            export.export_model(net, CLASSES, S, str(out), overwrite=True)
    assert os.listdir(str(out)) == ["old.txt"] and sorted(os.listdir(str(tmp_path))) == ["model"]
    export.export_model(net, CLASSES, S, str(out), overwrite=True)
    assert "old.txt" not in os.listdir(str(out)) and "model-symbol.json" in os.listdir(str(out))
    assert sorted(os.listdir(str(tmp_path))) == ["model"]


def test_refuses_a_non_empty_out_dir_and_bad_arguments(net, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(HotdogError, match="overwrite=True"):
        export.export_model(net, CLASSES, S, str(out))
    assert os.listdir(str(out)) == ["keep.txt"]
    with pytest.raises(HotdogError, match=r"unknown export format 'tflite'.*mxnet, onnx"):
        export.export_model(net, CLASSES, S, str(tmp_path / "x"), fmt="tflite")
    with pytest.raises(HotdogError, match="outputs 2 scores but 3 labels"):
        export.export_model(net, CLASSES + ["third"], S, str(tmp_path / "y"))
    with pytest.raises(HotdogError, match="image_size"):
        export.export_model(net, CLASSES, 0, str(tmp_path / "z"))
    untrained = mx.gluon.model_zoo.vision.get_model("resnet18_v2", classes=2)
    with pytest.raises(HotdogError, match="initialised"):
        export.export_model(untrained, CLASSES, S, str(tmp_path / "u"))
    assert sorted(os.listdir(str(tmp_path))) == ["model"]
    empty = tmp_path / "empty"
    empty.mkdir()
    export.export_model(net, CLASSES, S, str(empty))  # an existing empty folder is fine
    assert "model-0000.params" in os.listdir(str(empty))


def test_predictor_rejects_unprepared_images(mxnet_export):
    predictor = export.load_exported(mxnet_export)
    with pytest.raises(HotdogError, match="uint8"):
        predictor(np.zeros((1, S, S, 3), np.float32))
    with pytest.raises(HotdogError, match="preprocess_file"):
        predictor(np.zeros((1, 2 * S, 2 * S, 3), np.uint8))
    with pytest.raises(HotdogError, match="load_exported"):
        export.load_onnx(mxnet_export)


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse2 avx avx2 fma", "Some CPU: AVX2, no VNNI"),
    ("avx2 avx512f avx512_vnni", "Some CPU: AVX-512, VNNI (avx512_vnni)"),
    ("avx2 avx_vnni", "Some CPU: AVX2, VNNI (avx_vnni)"),
])
def test_the_inference_benchmark_names_the_cpus_int8_instructions(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {}\n\nprocessor\t: 1\n".format(flags))
    assert export.cpu_int8_support(str(cpuinfo)) == expected
    assert export.cpu_int8_support(str(tmp_path / "missing")) is None


def test_bench_inference_compares_the_three_engines_at_every_size(tmp_path, capsys):
    from hotdog import cli
    out = str(tmp_path / "inference.json")
    assert cli.main(["bench", "--inference", "--sizes", "32,40", "--json", out]) == 0
    printed = capsys.readouterr().out
    assert "MXNet fp32" in printed and "1.00x fp32" in printed and "MXNet int8" in printed
    saved = json.loads(open(out).read())
    assert [run["image_size"] for run in saved["runs"]] == [32, 40]
    for run in saved["runs"]:
        assert set(run["images_per_sec"]) == {"MXNet fp32", "MXNet int8", "onnxruntime fp32"}
        assert all(speed > 0 for speed in run["images_per_sec"].values())
