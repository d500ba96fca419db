"""Using a trained model: rebuild it from OUT/config.json + OUT/model.params, then predict or evaluate."""
import os

import mxnet as mx
import numpy as np

from .._io import read_json
from ..data.folders import load_split
from ..data.pipeline import make_loader
from ..data.transforms import test_transform
from ..errors import mxnet_error_summary
from ..models.strategies import parse_strategy
from .metrics import classification_report, predict_proba


def load_trained(model_dir, ctx):
    """(net, config) of a run's output folder."""
    config = read_json(os.path.join(model_dir, "config.json"), "model config (is --model-dir a training output?)")
    net = parse_strategy(config["strategy"], config["model"]).build(
        model=config["model"], ctx=ctx, params_file=os.path.join(model_dir, "model.params"),
        num_classes=len(config["classes"]))
    net.hybridize()
    return net, config


def predict_images(paths, model_dir, ctx):
    """One dict per path: ``label`` and ``probability``, or ``error`` for a file that is not a readable image."""
    net, config = load_trained(model_dir, ctx)
    transform = test_transform(config["image_size"])
    classes = config["classes"]
    results = []
    for path in paths:
        try:
            image = mx.image.imread(path)
        except (mx.base.MXNetError, OSError) as exc:
            reason = "no such file" if not os.path.exists(path) else "not a readable image"
            results.append({"path": path, "error": reason, "detail": mxnet_error_summary(exc)})
            continue
        x = transform(image).expand_dims(axis=0).as_in_context(ctx[0])
        probs = mx.nd.softmax(net(x))[0].asnumpy()
        label = int(np.argmax(probs))
        results.append({"path": path, "label": classes[label], "probability": float(probs[label])})
    return results


def evaluate_model(model_dir, ctx, data_dir=None, batch_size=64, num_workers=0, split="test"):
    """Accuracy, precision and recall (hotdog = positive) and the confusion matrix on a split."""
    net, config = load_trained(model_dir, ctx)
    dataset = load_split(data_dir or config["data_dir"], split, config["classes"]).transform_first(
        test_transform(config["image_size"]))
    probs, labels = predict_proba(net, make_loader(dataset, batch_size, num_workers=num_workers), ctx)
    report = classification_report(labels, probs.argmax(axis=1), num_classes=len(config["classes"]))
    report["classes"] = config["classes"]
    return report
