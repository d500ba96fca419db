"""Using a trained model: rebuild it from OUT/config.json + OUT/model.params, then predict or evaluate."""
import glob
import os

import mxnet as mx
import numpy as np
from PIL import Image

from .._io import atomic_save, read_json
from .._version import __version__
from ..data.check import require_usable
from ..data.folders import dataset_root, load_split
from ..data.images import UnreadableImage, decode_image
from ..data.layout import is_image_file
from ..data.pipeline import evaluation_set, make_loader
from ..data.transforms import tensor_transform, test_image_transform, to_normalized_tensor
from ..errors import HotdogError
from ..models import export
from ..models.export import is_export_folder
from ..models.strategies import parse_strategy
from .gradcam import grad_cam, overlay
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


def class_probabilities(net, transform, image, ctx):
    """The net's probability for each class (numpy, in the config's class order) of one decoded image
    (``decode_image``'s HxWx3 uint8), preprocessed by ``transform`` (``test_transform``) on context ``ctx``.

    ``predict`` and ``serve`` both answer through here, so that a photo gets the same numbers from both."""
    x = transform(mx.nd.array(image, dtype="uint8")).expand_dims(axis=0).as_in_context(ctx)
    return mx.nd.softmax(net(x))[0].asnumpy()


def predict_images(patterns, model_dir, ctx, explain_dir=None, batch_size=32, tta=False):
    """One dict per image file (see ``expand_image_paths``): ``label``, its ``probability`` and every class's
    ``probabilities`` ({class: p}), or ``error`` (the reason, e.g. "truncated") and ``detail`` for a file
    that cannot be used. Every readable file is answered, whatever the others hold. ``model_dir``: a run
    folder, or an export folder (``hotdog export``), whose own preprocessing rule is then used.

    ``batch_size``: images per forward pass. ``tta``: also look at each image mirrored left-right and
    average the two probabilities (test-time augmentation). ``explain_dir`` (run folders): also write each
    answered image's Grad-CAM overlay there (``explanation``: its path)."""
    if is_export_folder(model_dir):
        if explain_dir:
            raise HotdogError("Grad-CAM needs the net's layers, which an export folder no longer has apart: "
                              "explain with the run folder it was exported from ({})".format(
                                  export.read_export_info(model_dir).get("source_run", "see its export.json")))
        classify = _export_classifier(model_dir, ctx, tta)
    else:
        classify = _run_classifier(model_dir, ctx, explain_dir, tta)
    results, pending = [], []  # pending: (index in results, file name for --explain, decoded image)
    in_flight = []  # the batch the net is working on: ([index in results], finish() -> its answers)

    def collect():
        for indices, finish in in_flight:
            for index, answer in zip(indices, finish()):
                results[index] = dict(answer, path=results[index]["path"])
        in_flight.clear()

    def send():
        # MXNet computes in the background: while the net classifies this batch, the loop decodes the next
        # files with Pillow; the answers are read (the host waits) when the next batch is decoded. Read
        # before the next batch is prepared: its MXNet crops would wait behind the busy engine anyway.
        collect()
        finish = classify([image for _, _, image in pending], [name for _, name, _ in pending])
        in_flight.append(([index for index, _, _ in pending], finish))
        pending.clear()

    for number, path in enumerate(expand_image_paths(patterns), start=1):
        try:
            image = decode_image(path)
        except UnreadableImage as exc:
            results.append({"path": path, "error": exc.reason, "detail": str(exc)})
            continue
        results.append({"path": path})
        pending.append((len(results) - 1, "{:04d}-{}".format(number, os.path.splitext(os.path.basename(path))[0]),
                        image))
        if len(pending) >= max(1, batch_size):
            send()
    if pending:
        send()
    collect()
    return results


def _answers(classes, probabilities):
    return [{"label": classes[int(np.argmax(p))], "probability": float(np.max(p)),
             "probabilities": {cls: float(v) for cls, v in zip(classes, p)}} for p in probabilities]


def _run_classifier(model_dir, ctx, explain_dir=None, tta=False):
    """classify([uint8 HxWx3 image], [name]) -> finish(), which returns [{label, probability, probabilities[,
    explanation]}]: a run folder's net and the test transform, one forward pass for the batch, started
    at once and read by ``finish`` (with --explain, image by image and done before returning: the crop then
    the tensor, so that Grad-CAM draws on the very crop the net saw; the pixels are the same either way)."""
    net, config = load_trained(model_dir, ctx)
    classes, size = config["classes"], config["image_size"]
    to_tensor, centre_crop = tensor_transform(), test_image_transform(size)
    if explain_dir:
        os.makedirs(explain_dir, exist_ok=True)

    def probabilities(x):
        """The softmax as an NDArray, not yet computed (MXNet works in the background until it is read)."""
        probs = mx.nd.softmax(net(x))
        if tta:  # the mirror image too (width is the last axis of NCHW)
            probs = (probs + mx.nd.softmax(net(x.flip(axis=3)))) / 2
        return probs

    def classify(images, names):
        if not explain_dir:
            # the crop per image, ToTensor/Normalize once for the batch (transforms.py: the same numbers)
            x = to_normalized_tensor(mx.nd.stack(*[centre_crop(image) for image in images]))
            probs = probabilities(x.as_in_context(ctx[0]))
            return lambda: _answers(classes, probs.asnumpy())
        answers = []
        for image, name in zip(images, names):
            crop = export.preprocess_image(image, size)
            x = to_tensor(mx.nd.array(crop, dtype="uint8")).expand_dims(axis=0).as_in_context(ctx[0])
            heat, _, _ = grad_cam(net, x)
            answer = _answers(classes, probabilities(x).asnumpy())[0]
            answer["explanation"] = save_image(overlay(crop, heat), os.path.join(explain_dir, name + ".gradcam.png"))
            answers.append(answer)
        return lambda: answers
    return classify


def save_image(pixels, path):
    """An H x W x 3 uint8 array as a PNG, atomically."""
    return atomic_save(lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"), path)


def _export_classifier(folder, ctx, tta=False):
    """The same for an export folder (its graph holds the normalisation and the softmax); done before
    returning, as onnxruntime answers at once."""
    predictor = export.load_any(folder, ctx[0])

    def classify(images, names):
        batch = np.stack([export.preprocess_image(image, predictor.image_size) for image in images])
        probs = predictor(batch)
        if tta:  # the mirror image too (width is axis 2 of NHWC)
            probs = (probs + predictor(np.ascontiguousarray(batch[:, :, ::-1]))) / 2
        answers = _answers(predictor.labels, probs)
        return lambda: answers
    return classify


def evaluate_model(model_dir, ctx, data_dir=None, batch_size=64, num_workers=0, split="test", skip_bad_images=False):
    """Accuracy, precision and recall (hotdog = positive) and the confusion matrix on a split.

    The image folder is checked first (``check.require_usable``): it refuses with the whole list, or with
    ``skip_bad_images`` leaves the unreadable images out."""
    net, config = load_trained(model_dir, ctx)
    data_dir = data_dir or config["data_dir"]
    exclude = require_usable(dataset_root(data_dir), config["image_size"], skip_bad_images)
    dataset = evaluation_set(load_split(data_dir, split, config["classes"], exclude), config["image_size"])
    probs, labels = predict_proba(net, make_loader(dataset, batch_size, num_workers=num_workers), ctx)
    report = classification_report(labels, probs.argmax(axis=1), num_classes=len(config["classes"]))
    report["classes"] = config["classes"]
    return report
