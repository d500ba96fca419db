"""The backbones, by name: every one from the Gluon model zoo, with the zoo's split into ``features``
(everything up to the pooled feature vector) and ``output`` (the classifier).

This module is a plain table (no MXNet import), so the command line can list the names in ``--help``
without loading MXNet.
"""
from collections import namedtuple

from ..errors import ConfigError

# zoo_name: the model zoo's name. stage_starts: index in ``net.features`` of the first child of each
# residual stage (what ``partial:K`` counts); the children after the last stage (final BatchNorm, pooling)
# go with the last stage.
Backbone = namedtuple("Backbone", "name zoo_name stage_starts description")
BACKBONES = {b.name: b for b in (
    Backbone("resnet18_v2", "resnet18_v2", (5, 6, 7, 8), "ResNet-18 v2 (the chapter's net)"),
    Backbone("resnet18_v1", "resnet18_v1", (4, 5, 6, 7), "ResNet-18 v1"),
    Backbone("resnet50_v2", "resnet50_v2", (5, 6, 7, 8), "ResNet-50 v2"),
    # MobileNetV2's 17 bottlenecks form 7 stages of 1, 2, 3, 4, 3, 3 and 1 blocks.
    Backbone("mobilenet_v2_1_0", "mobilenetv2_1.0", (3, 4, 6, 9, 13, 16, 19), "MobileNetV2 1.0"),
)}
DEFAULT_BACKBONE = "resnet18_v2"


def get_backbone(name):
    try:
        return BACKBONES[name]
    except KeyError:
        raise ConfigError("model", "must be one of {} (got {!r})".format(", ".join(BACKBONES), name)) from None
