"""Grad-CAM: where in the image the net looked for its answer (Selvaraju et al., 2017).

The last spatial feature map A of ``net.features`` (before global pooling) is weighted, channel by channel,
by the mean gradient of the chosen class's score with respect to that channel; the positive part of the
sum is the heat map, upsampled to the image. The model zoo nets used here all end ``features`` with
global pooling, so that map is the output of the last child of ``features`` that still has a spatial
extent.

Hybridized nets are fine: the children of ``features`` are called one by one (each runs its own cached
graph), the map is cut loose with ``attach_grad``, and only the rest of the net is recorded. BatchNorm
uses its running statistics (``train_mode=False``), as at inference.
"""
import matplotlib
import mxnet as mx
import numpy as np
from mxnet import autograd
from PIL import Image

from .. import _mx
from ..errors import HotdogError


def _split_at_last_spatial_map(net, x):
    """(the feature map A, the children of ``features`` that follow it) for input ``x``."""
    children = _mx.child_blocks(net.features)
    outputs, h = [], x
    for child in children:
        h = child(h)
        outputs.append(h)
    spatial = [i for i, out in enumerate(outputs) if out.ndim == 4 and out.shape[2] * out.shape[3] > 1]
    if not spatial:
        raise HotdogError("this net's features have no spatial feature map (every layer is 1x1 or flat), so "
                          "Grad-CAM cannot say where it looked")
    last = spatial[-1]
    return outputs[last], children[last + 1:]


def grad_cam(net, x, class_index=None):
    """Grad-CAM for one preprocessed image ``x`` (1, 3, S, S) on the net's context.

    Returns (heat map float32 S x S in [0, 1], the class it explains, the softmax probabilities). Without
    ``class_index``, the predicted class is explained.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise HotdogError("grad_cam explains one image at a time: x must be shaped (1, 3, S, S), got {}".format(
            x.shape))
    feature_map, rest = _split_at_last_spatial_map(net, x)
    feature_map = feature_map.copy()
    feature_map.attach_grad()
    with autograd.record(train_mode=False):
        h = feature_map
        for child in rest:
            h = child(h)
        scores = net.output(h)
        probabilities = mx.nd.softmax(scores)[0].asnumpy()
        index = int(np.argmax(probabilities)) if class_index is None else int(class_index)
        chosen = scores[0, index]
    chosen.backward()
    weights = feature_map.grad.mean(axis=(2, 3), keepdims=True)             # one weight per channel
    cam = mx.nd.relu((weights * feature_map).sum(axis=1))[0].asnumpy()     # H' x W'
    size = x.shape[2:]
    heat = np.asarray(Image.fromarray(cam.astype(np.float32)).resize((size[1], size[0]), Image.BILINEAR))
    heat = heat - heat.min()
    peak = heat.max()
    return (heat / peak if peak > 0 else heat).astype(np.float32), index, probabilities


def overlay(image, heat, alpha=0.45):
    """The image (H x W x 3 uint8) with the heat map drawn over it in the 'jet' colours (red: looked here)."""
    if heat.shape != image.shape[:2]:
        heat = np.asarray(Image.fromarray(heat.astype(np.float32)).resize(image.shape[1::-1], Image.BILINEAR))
    colours = matplotlib.colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255
    return (image * (1 - alpha) + colours * alpha).clip(0, 255).astype(np.uint8)
