"""Grad-CAM for real: a net trained on images whose class is decided only by a bright patch in a known place
must put its heat on the patch."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn
from mxnet.gluon.model_zoo.vision import get_model

from hotdog.errors import HotdogError
from hotdog.evaluate.gradcam import grad_cam, overlay

SIZE, PATCH = 32, 8


class Small(gluon.HybridBlock):
    """A model-zoo-shaped net (``features`` then ``output``) small enough to train in seconds."""

    def __init__(self):
        super().__init__()
        self.features = nn.HybridSequential()
        self.features.add(nn.Conv2D(16, 3, padding=1, activation="relu"), nn.Conv2D(16, 3, padding=1, activation="relu"),
                          nn.GlobalAvgPool2D(), nn.Flatten())
        self.output = nn.Dense(2)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


CORNER = 4  # the patch's top-left pixel, in every class-0 image


def patch_images(n, rng):
    """Noise images; class 0 has a bright patch at a known place, class 1 has none: only the patch decides."""
    x = rng.uniform(0, 0.5, size=(n, 3, SIZE, SIZE)).astype(np.float32)
    y = rng.integers(0, 2, size=n)
    x[y == 0, :, CORNER:CORNER + PATCH, CORNER:CORNER + PATCH] = 1.0
    return x, y


def patch_mask():
    mask = np.zeros((SIZE, SIZE), bool)
    mask[CORNER:CORNER + PATCH, CORNER:CORNER + PATCH] = True
    return mask


@pytest.fixture(scope="module")
def trained():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    net = Small()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    x, y = patch_images(512, rng)
    for epoch in range(6):
        for i in range(0, len(x), 32):
            xb, yb = mx.nd.array(x[i:i + 32]), mx.nd.array(y[i:i + 32])
            with autograd.record():
                loss = loss_fn(net(xb), yb)
            loss.backward()
            trainer.step(len(xb))
    return net, rng


def test_the_heat_is_on_the_patch_that_decides_the_class(trained):
    net, rng = trained
    x, y = patch_images(40, rng)
    predictions = net(mx.nd.array(x)).argmax(axis=1).asnumpy()
    assert (predictions == y).mean() >= 0.95  # the net learned the task
    with_patch = x[y == 0]
    on_patch = 0
    for image in with_patch:  # why "class 0"? the heat must say: the patch
        heat, index, probabilities = grad_cam(net, mx.nd.array(image[None]))
        assert heat.shape == (SIZE, SIZE) and 0 <= heat.min() and heat.max() == pytest.approx(1.0)
        assert index == int(np.argmax(probabilities)) == 0
        on_patch += heat[patch_mask()].mean() > 2 * heat[~patch_mask()].mean()
    assert len(with_patch) >= 10 and on_patch >= 0.8 * len(with_patch), (on_patch, len(with_patch))


def test_a_chosen_class_is_explained_and_overlays_keep_the_image_shape(trained):
    net, rng = trained
    x, y = patch_images(8, rng)
    x = x[y == 0][:1]
    heat0, index0, _ = grad_cam(net, mx.nd.array(x), class_index=0)
    heat1, index1, _ = grad_cam(net, mx.nd.array(x), class_index=1)
    assert (index0, index1) == (0, 1) and not np.allclose(heat0, heat1)
    image = (np.transpose(x[0], (1, 2, 0)) * 255).astype(np.uint8)
    shown = overlay(image, heat0)
    assert shown.shape == image.shape and shown.dtype == np.uint8 and not np.array_equal(shown, image)


def test_a_hybridized_zoo_resnet_works_and_a_net_without_a_spatial_map_is_refused():
    net = get_model("resnet18_v2", classes=2)
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True)
    heat, _, probabilities = grad_cam(net, mx.nd.random.uniform(shape=(1, 3, 64, 64)))
    assert heat.shape == (64, 64) and probabilities.shape == (2,) and np.isfinite(heat).all()
    flat = Small()
    flat.features = nn.HybridSequential()
    flat.features.add(nn.Flatten(), nn.Dense(8))
    flat.initialize()
    with pytest.raises(HotdogError, match="no spatial feature map"):
        grad_cam(flat, mx.nd.ones((1, 3, SIZE, SIZE)))
