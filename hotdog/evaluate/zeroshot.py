"""ImageNet's own hotdog classifier as a detector: the untouched 1000-class net, no training."""
import mxnet as mx
import numpy as np

from ..data.folders import load_split
from ..data.layout import CLASSES, HOTDOG_LABEL, NOT_HOTDOG_LABEL
from ..data.pipeline import evaluation_set, make_loader
from ..models.imagenet import HOTDOG_CLASS_NAME, class_index, class_name
from .metrics import classification_report, predict_proba


def zeroshot(pretrained, data_dir, image_size=224, batch_size=64, ctx=None, imagenet_class=HOTDOG_CLASS_NAME,
             threshold=None, num_workers=0, split="test"):
    """Use the untouched 1000-class net as a hotdog detector on a split of the dataset.

    Rule: an image is "hotdog" when the ImageNet class wins the argmax over all 1000 classes, or, with
    ``threshold``, when its softmax probability is at least ``threshold``. Returns the binary report
    plus the class used.
    """
    index = class_index(imagenet_class)
    dataset = evaluation_set(load_split(data_dir, split, CLASSES), image_size)  # hotdog data only
    probs, labels = predict_proba(pretrained, make_loader(dataset, batch_size, num_workers=num_workers),
                                  ctx or [mx.cpu()])
    is_hotdog = probs.argmax(axis=1) == index if threshold is None else probs[:, index] >= threshold
    predicted = np.where(is_hotdog, HOTDOG_LABEL, NOT_HOTDOG_LABEL)
    report = classification_report(labels, predicted)
    report.update(imagenet_class=index, imagenet_class_name=class_name(index),
                  rule="argmax" if threshold is None else "probability >= {}".format(threshold))
    return report
