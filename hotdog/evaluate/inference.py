"""Using a trained model: rebuild it from OUT/config.json + OUT/model.params, then predict or evaluate."""
import glob
import os

import mxnet as mx
import numpy as np

from .._io import read_json
from .._version import __version__
from ..data.check import require_usable
from ..data.folders import dataset_root, load_split
from ..data.images import UnreadableImage, decode_image
from ..data.layout import is_image_file
from ..data.pipeline import make_loader
from ..data.transforms import test_transform
from ..errors import HotdogError
from ..models import export
from ..models.export import is_export_folder
from ..models.strategies import parse_strategy
from .metrics import classification_report, predict_proba

# What a run's config.json must hold to rebuild its net (written by train.run_dir.write_model_config).
CONFIG_KEYS = ("model", "strategy", "classes", "image_size")


def load_trained(model_dir, ctx):
    """(net, config) of a run's output folder."""
    config = read_json(os.path.join(model_dir, "config.json"), "model config (is --model-dir a training output?)")
    missing = [key for key in CONFIG_KEYS if key not in config] if isinstance(config, dict) else list(CONFIG_KEYS)
    if missing:
        raise HotdogError("{}/config.json lacks {} (written by hotdog {}, this is {}): it is not a run folder this "
                          "version can read; train it again".format(model_dir, ", ".join(missing), (
                              config.get("hotdog_version", "of another kind") if isinstance(config, dict) else "?"),
                              __version__))
    net = parse_strategy(config["strategy"], config["model"]).build(
        model=config["model"], ctx=ctx, params_file=os.path.join(model_dir, "model.params"),
        num_classes=len(config["classes"]))
    net.hybridize()
    return net, config


def expand_image_paths(patterns):
    """Files, folders (their image files, recursively, sorted) and glob patterns -> [path], in order.

    A pattern or path that matches nothing is kept as it is, so that it is reported ("no such file").
    """
    paths = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = [os.path.join(folder, name) for folder, _, names in sorted(os.walk(pattern))
                     for name in sorted(names) if is_image_file(name)]
        elif glob.has_magic(pattern):
            found = sorted(path for path in glob.glob(pattern, recursive=True) if os.path.isfile(path))
        else:
            found = []
        paths += found or [pattern]
    return paths


def predict_images(patterns, model_dir, ctx):
    """One dict per image file (see ``expand_image_paths``): ``label`` and ``probability``, or ``error`` (the
    reason, e.g. "truncated") and ``detail`` for a file that cannot be used. Every readable file is
    answered, whatever the others hold. ``model_dir``: a run folder, or an export folder (``hotdog export``),
    whose own preprocessing rule is then used."""
    classify = _export_classifier(model_dir, ctx) if is_export_folder(model_dir) else _run_classifier(model_dir, ctx)
    results = []
    for path in expand_image_paths(patterns):
        try:
            image = decode_image(path)
        except UnreadableImage as exc:
            results.append({"path": path, "error": exc.reason, "detail": str(exc)})
            continue
        label, probability = classify(image)
        results.append({"path": path, "label": label, "probability": probability})
    return results


def _run_classifier(model_dir, ctx):
    """uint8 HxWx3 image -> (label, probability), with a run folder's net and the test transform."""
    net, config = load_trained(model_dir, ctx)
    transform = test_transform(config["image_size"])

    def classify(image):
        x = transform(mx.nd.array(image, dtype="uint8")).expand_dims(axis=0).as_in_context(ctx[0])
        probs = mx.nd.softmax(net(x))[0].asnumpy()
        best = int(np.argmax(probs))
        return config["classes"][best], float(probs[best])
    return classify


def _export_classifier(folder, ctx):
    """The same for an export folder: its graph holds the normalisation and the softmax."""
    predictor = export.load_any(folder, ctx[0])

    def classify(image):
        probs = predictor(export.preprocess_image(image, predictor.image_size))[0]
        best = int(np.argmax(probs))
        return predictor.labels[best], float(probs[best])
    return classify


def evaluate_model(model_dir, ctx, data_dir=None, batch_size=64, num_workers=0, split="test", skip_bad_images=False):
    """Accuracy, precision and recall (hotdog = positive) and the confusion matrix on a split.

    The image folder is checked first (``check.require_usable``): it refuses with the whole list, or with
    ``skip_bad_images`` leaves the unreadable images out."""
    net, config = load_trained(model_dir, ctx)
    data_dir = data_dir or config["data_dir"]
    exclude = require_usable(dataset_root(data_dir), config["image_size"], skip_bad_images)
    dataset = load_split(data_dir, split, config["classes"], exclude).transform_first(
        test_transform(config["image_size"]))
    probs, labels = predict_proba(net, make_loader(dataset, batch_size, num_workers=num_workers), ctx)
    report = classification_report(labels, probs.argmax(axis=1), num_classes=len(config["classes"]))
    report["classes"] = config["classes"]
    return report
