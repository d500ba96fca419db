"""The chapter's image transforms.

Train: ``RandomResizedCrop(S)``, ``RandomFlipLeftRight``, ``ToTensor``, ``Normalize(ImageNet mean/std)``.
Test: ``Resize(round(S*256/224))``, ``CenterCrop(S)``, ``ToTensor``, the same ``Normalize``.
``Resize`` with one number squashes the image to a square, exactly as the chapter does (both its MXNet
and PyTorch editions); it does not keep the aspect ratio.

Each transform is two steps: the *image* steps (crop, flip, resize: per image, on uint8 pixels) and the
*tensor* step (``ToTensor`` then ``Normalize``, ``to_normalized_tensor``). The tensor step gives the same
numbers on one image (HxWx3) as on a batch of them (NxHxWx3): the loaders (``pipeline.make_loader``) run it
once per batch instead of once per image, which at small image sizes is a visible share of the time.

The training crop (``CropAndFlip``) works on numpy arrays with Pillow, not with MXNet operations: it runs
once per image per epoch, and every MXNet operation on an image waits for the engine, which is busy with
the previous batch's forward and backward passes, so per-image MXNet steps kept the cores idle between
batches (measured: 10-25% of the training time at 48 px). It draws its crops exactly as Gluon's
``RandomResizedCrop`` does (the same Python ``random`` calls: the same boxes for the same seed); the resize
is Pillow's bilinear, which averages over the pixels it shrinks away, where OpenCV's (inside MXNet) samples.
"""
import math
import random

import mxnet as mx
import numpy as np
from mxnet.gluon.data.vision import transforms
from PIL import Image

from .layout import DEFAULT_IMAGE_SIZE

# ImageNet statistics: the pretrained backbone saw inputs normalised this way.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# RandomResizedCrop's default area range: a crop covers 8% to 100% of the image.
CHAPTER_CROP_SCALE = (0.08, 1.0)


def resize_size(image_size):
    """The test-time resize that goes with a crop of ``image_size`` (256 for 224)."""
    return int(round(image_size * 256 / 224))


class CropAndFlip:
    """The training transform's image steps: a random crop of ``scale`` of the area and an aspect ratio in
    ``ratio``, resized to ``size`` x ``size``, then a left-right flip half of the time.

    Input: a uint8 HxWx3 image (numpy, or an NDArray); output: a uint8 ``size`` x ``size`` x 3 numpy array.
    The crop box is drawn as Gluon's ``RandomResizedCrop`` draws it (``mx.image.random_size_crop``): ten
    tries at a random area and log-uniform aspect ratio, else the centre.
    """

    def __init__(self, size, scale=CHAPTER_CROP_SCALE, ratio=(3.0 / 4.0, 4.0 / 3.0)):
        self.size, self.scale = int(size), tuple(scale)
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def __repr__(self):
        ratio = tuple(round(math.exp(r), 4) for r in self.log_ratio)
        return "CropAndFlip(size={}, scale={}, ratio={})".format(self.size, self.scale, ratio)

    def box(self, w, h):
        """(x0, y0, width, height) of a random crop of a w x h image."""
        for _ in range(10):
            area = random.uniform(*self.scale) * w * h
            aspect = math.exp(random.uniform(*self.log_ratio))
            new_w, new_h = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            # A box that rounds to no pixels (a tiny share of a small image) is a failed try, like one too big.
            if 0 < new_w <= w and 0 < new_h <= h:
                return random.randint(0, w - new_w), random.randint(0, h - new_h), new_w, new_h
        side = min(w, h) if min(w, h) < self.size else self.size  # the centre S x S (all of a smaller image)
        return (w - side) // 2, (h - side) // 2, side, side

    def __call__(self, image):
        if isinstance(image, mx.nd.NDArray):
            image = image.asnumpy()
        x0, y0, w, h = self.box(image.shape[1], image.shape[0])
        crop = image[y0:y0 + h, x0:x0 + w]
        if (w, h) != (self.size, self.size):
            crop = np.asarray(Image.fromarray(crop).resize((self.size, self.size), Image.BILINEAR))
        if random.random() < 0.5:
            crop = crop[:, ::-1]
        return np.ascontiguousarray(crop)


def train_image_transform(image_size=DEFAULT_IMAGE_SIZE, crop_scale=CHAPTER_CROP_SCALE):
    """The training transform's image steps: a random crop of ``crop_scale`` of the area, a random flip."""
    return CropAndFlip(image_size, crop_scale)


def test_image_transform(image_size=DEFAULT_IMAGE_SIZE):
    """The test transform's image steps: squash to round(S*256/224) a side, crop the centre S x S (Gluon's
    own ``Resize`` and ``CenterCrop``: deterministic, and the decode-once cache does them only once)."""
    return Chain(transforms.Resize(resize_size(image_size)), transforms.CenterCrop(image_size))


def to_normalized_tensor(images):
    """``ToTensor`` then ``Normalize``: uint8 HxWx3 (or a batch NxHxWx3) to float32 3xHxW (Nx3xHxW), scaled
    to [0, 1] and normalised with the ImageNet mean and std. The same operators as the Gluon transforms,
    so an image gives the same numbers alone or in a batch."""
    return mx.nd.image.normalize(mx.nd.image.to_tensor(images), mean=MEAN, std=STD)


def train_transform(image_size=DEFAULT_IMAGE_SIZE, crop_scale=CHAPTER_CROP_SCALE):
    """The whole training transform, for one image (uint8 HxWx3 in, normalised 3xSxS NDArray out)."""
    return Chain(train_image_transform(image_size, crop_scale), to_normalized_tensor)


class Chain:
    """Steps applied in turn to an image; the image becomes an NDArray before a step that needs one (a
    Gluon transform, or the tensor step). Picklable, for data-loader worker processes."""

    def __init__(self, *steps):
        self.steps = steps

    def __repr__(self):
        return "Chain({})".format(", ".join(_step_name(step) for step in self.steps))

    def __call__(self, image):
        for step in self.steps:
            image = step(image) if isinstance(step, CropAndFlip) else step(as_ndarray(image))
        return image


def _step_name(step):
    """A step as a notebook should show it: Resize(256), not Gluon's empty block listing."""
    if isinstance(step, CropAndFlip):
        return repr(step)
    if isinstance(step, (transforms.Resize, transforms.CenterCrop)):
        # Gluon keeps the size in a private attribute (Resize: _size, CenterCrop: _args); the name alone if not.
        size = getattr(step, "_size", None) or getattr(step, "_args", (None,))[0]
        return "{}({})".format(type(step).__name__, size) if size is not None else type(step).__name__
    return getattr(step, "__name__", type(step).__name__)


def as_ndarray(image):
    """A uint8 image as an MXNet NDArray (numpy arrays are copied; NDArrays pass through)."""
    return image if isinstance(image, mx.nd.NDArray) else mx.nd.array(image, dtype="uint8")


def test_transform(image_size=DEFAULT_IMAGE_SIZE):
    """The whole test transform, for one image."""
    return Chain(transforms.Resize(resize_size(image_size)), transforms.CenterCrop(image_size), to_normalized_tensor)


def tensor_transform():
    """The tensor step alone, as a transform: what remains for test images read from the cache."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
