"""A run folder made servable: ``export_run`` turns ``hotdog train``'s output into an export folder
(``models.export``: preprocessing inside the graph, MXNet or ONNX, fp32 or int8) and, for int8, measures
what quantization costs in accuracy and gains in speed on the run's own test images.
"""
import logging
import os
import time

import mxnet as mx
import numpy as np

from .._version import __version__
from ..data.check import require_usable
from ..data.folders import dataset_root, load_split
from ..errors import ConfigError
from ..models import export
from .inference import load_trained

log = logging.getLogger(__name__)

CALIBRATION_BATCH = 32


def _preprocessed(dataset, image_size, limit=None, seed=0):
    """(uint8 images (n, S, S, 3), labels) of a split, preprocessed as the export expects; ``limit``: a
    seeded sample of that many (calibration), in a fixed order."""
    order = np.arange(len(dataset.items))
    if limit is not None and limit < len(order):
        order = np.sort(np.random.RandomState(seed).choice(order, limit, replace=False))
    images = [export.preprocess_file(dataset.items[i][0], image_size) for i in order]
    return np.stack(images), np.array([dataset.items[i][1] for i in order])


def _accuracy_and_speed(predictor_fn, images, labels):
    """Test accuracy, and images/s over the whole set in batches of 32 after one warm-up batch."""
    predictor_fn(images[:CALIBRATION_BATCH])
    tic = time.perf_counter()
    probs = np.concatenate([predictor_fn(images[i:i + CALIBRATION_BATCH])
                            for i in range(0, len(images), CALIBRATION_BATCH)])
    seconds = time.perf_counter() - tic
    return float((probs.argmax(axis=1) == labels).mean()), len(images) / seconds


def export_run(model_dir, out_dir, ctx, fmt="mxnet", int8=False, calibration_images=256, overwrite=False,
               skip_bad_images=False):
    """Export the run in ``model_dir`` to ``out_dir``; return export.json's contents.

    With ``int8``: calibrated on ``calibration_images`` training images (a seeded sample), and the test
    split is scored before and after quantization (accuracy and images/s, batch 32), recorded in
    export.json under "int8_check". The run's data is checked first (``check.require_usable``).
    """
    if int8 and fmt == "onnx":  # before any work: MXNet's ONNX exporter has no int8 operators
        raise ConfigError("int8", "works with the mxnet format only (MXNet's ONNX exporter cannot convert int8 "
                                  "operators); export to ONNX without int8, or int8 without ONNX")
    net, config = load_trained(model_dir, ctx)
    image_size, classes = config["image_size"], config["classes"]
    extra = {"hotdog_version": __version__, "source_run": os.path.abspath(model_dir),
             "strategy": config["strategy"], "backbone": config["model"],
             "trained_on": config.get("data_dir")}
    calibration, check = None, None
    if int8:
        data_dir = config["data_dir"]
        exclude = require_usable(dataset_root(data_dir), image_size, skip_bad_images)
        train_images, _ = _preprocessed(load_split(data_dir, "train", classes, exclude), image_size,
                                        limit=calibration_images)
        calibration = [train_images[i:i + CALIBRATION_BATCH] for i in range(0, len(train_images), CALIBRATION_BATCH)]
        test_images, test_labels = _preprocessed(load_split(data_dir, "test", classes, exclude), image_size)
        fp32 = export.PreprocessedNet(net)
        fp32.hybridize(static_alloc=True)
        quantized = export.quantize(fp32, calibration)
        before, before_speed = _accuracy_and_speed(lambda b: _run(fp32, b, ctx), test_images, test_labels)
        after, after_speed = _accuracy_and_speed(lambda b: _run(quantized, b, ctx), test_images, test_labels)
        check = {"test_images": int(len(test_labels)), "calibration_images": int(len(train_images)),
                 "fp32_test_acc": before, "int8_test_acc": after, "fp32_images_per_sec": before_speed,
                 "int8_images_per_sec": after_speed, "batch_size": CALIBRATION_BATCH}
        extra["int8_check"] = check
        log.info("int8: test accuracy %.4f -> %.4f on %d images; %.1f -> %.1f images/s (%.2fx) at batch %d",
                 before, after, len(test_labels), before_speed, after_speed, after_speed / before_speed,
                 CALIBRATION_BATCH)
        net = quantized
    folder = export.export_model(net, classes, image_size, out_dir, fmt=fmt, int8=False, extra_info=extra,
                                 overwrite=overwrite)
    return export.read_export_info(folder)


def _run(block, batch, ctx):
    return block(mx.nd.array(batch, dtype="uint8", ctx=ctx[0])).asnumpy()
