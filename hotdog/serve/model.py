"""The trained model behind the page: loaded once, used by one worker thread, one photo at a time.

Why one thread: MXNet 1.x makes no promise that one Gluon net may run forward passes from several threads
at once (a hybridized net runs one cached graph), and the web server answers requests concurrently. So
every MXNet call, from loading the weights to the forward pass, is submitted to the same single thread:
requests queue for the model and each gets its own answer. Decoding runs there too, so that at most one
photo is decoded at a time (a 120-megapixel photo takes about 1 GB while it is converted).
"""
import concurrent.futures
import os

import numpy as np

from ..data.images import decode_image
from ..data.synthetic import is_demo_target
from ..data.transforms import test_transform
from ..evaluate.inference import class_probabilities, load_trained


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
        return config

    def predict(self, data, name):
        """A Future of the answer for the image file's bytes ``data``; it raises UnreadableImage (its message
        calls the image ``name``) for anything ``hotdog predict`` would refuse."""
        return self._worker.submit(self._answer, data, name)

    def _answer(self, data, name):
        # decode_image and class_probabilities: exactly what `hotdog predict` does with a file.
        probs = class_probabilities(self._net, self._transform, decode_image(data, name=name), self._ctx[0])
        # Reserved: an "explanation" image (a Grad-CAM overlay) may join these keys one day; the page has a
        # marked place for it. Until the server computes one, there is no such key.
        return {"label": self.classes[int(np.argmax(probs))],
                "probabilities": {cls: float(p) for cls, p in zip(self.classes, probs)},
                "model": self.identity}

    def close(self):
        self._worker.shutdown(wait=True, cancel_futures=True)
