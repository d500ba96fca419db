"""ImageNet's own hotdog classifier: find the class by name, reuse its row, or use it zero-shot.

The chapter's exercise takes row 713 of the pretrained output layer as "hotdog". In the ImageNet-1k label
list, 713 is "photocopier"; "hotdog, hot dog, red hot" (synset n07697537) is 934. So we look the class up
by name in gluoncv's ImageNet labels, and keep ``--imagenet-class 713`` to reproduce the book verbatim.
Using the untouched net as a detector is ``evaluate.zeroshot``.
"""
import difflib
import functools

import mxnet as mx
import numpy as np

from ..data.layout import CLASSES, HOTDOG_LABEL, NOT_HOTDOG_LABEL
from ..errors import HotdogError

HOTDOG_CLASS_NAME = "hotdog"
BOOK_ROW = 713  # what the chapter uses; it is "photocopier"


@functools.lru_cache(maxsize=1)
def imagenet_labels():
    """(short names, synsets) of the 1000 ImageNet classes, in the pretrained nets' output order."""
    from gluoncv.data import ImageNet1kAttr
    attr = ImageNet1kAttr()
    return tuple(attr.classes), tuple(attr.synset)


def class_index(name_or_index):
    """The output row of an ImageNet class given as a name ('hotdog'), a synset ('n07697537') or a number."""
    names, synsets = imagenet_labels()
    text = str(name_or_index).strip()
    if text.isdigit():
        index = int(text)
        if not 0 <= index < len(names):
            raise HotdogError("ImageNet class {} is out of range (0 to {})".format(index, len(names) - 1))
        return index
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    if text in synsets:
        return synsets.index(text)
    close = difflib.get_close_matches(text.lower(), lowered, n=5)
    raise HotdogError("no ImageNet class named {!r}{}".format(
        text, "; did you mean: {}?".format(", ".join(close)) if close else ""))


def class_name(index):
    return imagenet_labels()[0][index]


def _output_weight_and_bias(net):
    weight = bias = None
    for name, param in net.output.collect_params().items():
        if name.endswith("weight"):
            weight = param
        elif name.endswith("bias"):
            bias = param
    return weight, bias


def init_output_from_class(net, pretrained, imagenet_class=HOTDOG_CLASS_NAME):
    """Initialise ``net.output`` (2 classes) from the pretrained 1000-class output layer.

    The ``hotdog`` label's row is the ImageNet class's row. The ``not-hotdog`` row is the mean of the
    other 999 rows: a classifier for "an average ImageNet class", which is what not-hotdog is. Biases
    are chosen the same way (MobileNetV2's output has none).
    """
    index = class_index(imagenet_class)
    src_weight, src_bias = _output_weight_and_bias(pretrained)
    dst_weight, dst_bias = _output_weight_and_bias(net)
    others = np.arange(src_weight.shape[0]) != index

    def two_rows(values):
        out = np.zeros((len(CLASSES),) + values.shape[1:], dtype=values.dtype)
        out[HOTDOG_LABEL] = values[index]
        out[NOT_HOTDOG_LABEL] = values[others].mean(axis=0)
        return mx.nd.array(out)

    dst_weight.set_data(two_rows(src_weight.data().asnumpy()))
    if dst_bias is not None and src_bias is not None:
        dst_bias.set_data(two_rows(src_bias.data().asnumpy()))
    return net
