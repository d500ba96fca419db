"""The trained model behind the page: loaded once, used by one worker thread, one photo at a time.

Why one thread: MXNet 1.x makes no promise that one Gluon net may run forward passes from several threads
at once (a hybridized net runs one cached graph), and the web server answers requests concurrently. So
every MXNet call, from loading the weights to the forward pass, is submitted to the same single thread:
requests queue for the model and each gets its own answer. Decoding runs there too, so that at most one
photo is decoded at a time (a 120-megapixel photo takes about 1 GB while it is converted).
"""
import base64
import concurrent.futures
import io
import os

import mxnet as mx
import numpy as np
from PIL import Image

from ..data.images import decode_image
from ..data.synthetic import is_demo_target
from ..data.transforms import tensor_transform, test_transform
from ..errors import HotdogError
from ..evaluate.gradcam import grad_cam, overlay
from ..evaluate.inference import class_probabilities, load_trained
from ..models.export import preprocess_image


def describe(config, model_dir):
    """What answers: the identity that GET /model and every /predict answer carry, from config.json.

    ``synthetic_data`` is true when the run was trained on the offline demo's generated target set
    (``data.synthetic.is_demo_target`` of config.json's ``data_dir``). Drawings made with ``hotdog synth``
    sit in an ordinary folder and cannot be told from photos: they count as false.
    """
    return {
        "run": os.path.basename(os.path.abspath(model_dir)),
        "strategy": config["strategy"],
        "backbone": config["model"],
        "classes": list(config["classes"]),
        "image_size": config["image_size"],
        "synthetic_data": is_demo_target(config["data_dir"]),
        "hotdog_version": config.get("hotdog_version"),
    }


class ServedModel:
    """A run folder's net (``hotdog train --out``) in a worker thread of its own.

    ``predict(data, name)`` returns a Future of the answer; ``close()`` stops the thread.
    """

    def __init__(self, model_dir, ctx):
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotdog-model")
        self._ctx = ctx
        self._to_tensor = tensor_transform()
        try:
            config = self._worker.submit(self._load, model_dir).result()
        except BaseException:
            self._worker.shutdown()
            raise
        self.classes = list(config["classes"])
        self.identity = describe(config, model_dir)

    def _load(self, model_dir):
        self._net, config = load_trained(model_dir, self._ctx)
        self._transform = test_transform(config["image_size"])
        self._image_size = config["image_size"]
        return config

    def predict(self, data, name):
        """A Future of the answer for the image file's bytes ``data``; it raises UnreadableImage (its message
        calls the image ``name``) for anything ``hotdog predict`` would refuse."""
        return self._worker.submit(self._answer, data, name)

    def _answer(self, data, name):
        # decode_image and class_probabilities: exactly what `hotdog predict` does with a file.
        image = decode_image(data, name=name)
        probs = class_probabilities(self._net, self._transform, image, self._ctx[0])
        label = int(np.argmax(probs))
        return {"label": self.classes[label],
                "probabilities": {cls: float(p) for cls, p in zip(self.classes, probs)},
                "explanation": self._explain(image, label),
                "model": self.identity}

    def _explain(self, image, label):
        """The Grad-CAM overlay of the answer on the crop the net saw, as a PNG data URL (nothing on disk)."""
        crop = preprocess_image(image, self._image_size)
        x = self._to_tensor(mx.nd.array(crop, dtype="uint8")).expand_dims(axis=0).as_in_context(self._ctx[0])
        try:
            heat, _, _ = grad_cam(self._net, x, class_index=label)
        except HotdogError:  # a backbone without a spatial feature map: the answer stands without a picture
            return None
        buffer = io.BytesIO()
        Image.fromarray(overlay(crop, heat)).save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    def close(self):
        self._worker.shutdown(wait=True, cancel_futures=True)
