"""The chapter's image transforms.

Train: ``RandomResizedCrop(S)``, ``RandomFlipLeftRight``, ``ToTensor``, ``Normalize(ImageNet mean/std)``.
Test: ``Resize(round(S*256/224))``, ``CenterCrop(S)``, ``ToTensor``, the same ``Normalize``.
``Resize`` with one number squashes the image to a square, exactly as the chapter does (both its MXNet
and PyTorch editions); it does not keep the aspect ratio.
"""
from mxnet.gluon.data.vision import transforms

from .layout import DEFAULT_IMAGE_SIZE

# ImageNet statistics: the pretrained backbone saw inputs normalised this way.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# RandomResizedCrop's default area range: a crop covers 8% to 100% of the image.
CHAPTER_CROP_SCALE = (0.08, 1.0)


def resize_size(image_size):
    """The test-time resize that goes with a crop of ``image_size`` (256 for 224)."""
    return int(round(image_size * 256 / 224))


def train_transform(image_size=DEFAULT_IMAGE_SIZE, crop_scale=CHAPTER_CROP_SCALE):
    return transforms.Compose([
        transforms.RandomResizedCrop(image_size, scale=tuple(crop_scale)),
        transforms.RandomFlipLeftRight(),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])


def test_transform(image_size=DEFAULT_IMAGE_SIZE):
    return transforms.Compose([
        transforms.Resize(resize_size(image_size)),
        transforms.CenterCrop(image_size),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])


def tensor_transform():
    """The test transform's last two steps: what remains for test images read from the cache."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
