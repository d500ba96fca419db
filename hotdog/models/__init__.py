"""The nets: backbones by name, pretrained weights, model surgery, strategies, ImageNet's hotdog class.

  backbones   the registry of backbones (a plain table: no MXNet import)
  zoo         pretrained weights from the model zoo or a file; .params loading that names misfits
  surgery     the fine-tune net, the scratch net, freezing (and why frozen BatchNorm needs care)
  strategies  what learns: Strategy objects and the STRATEGIES registry
  imagenet    ImageNet's class 934 (not the book's 713) and the hotdog-init output layer
"""
from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "BACKBONES": "backbones", "DEFAULT_BACKBONE": "backbones", "get_backbone": "backbones",
    "pretrained_net": "zoo", "load_params_checked": "zoo",
    "finetune_net": "surgery", "scratch_net": "surgery", "freeze_features": "surgery",
    "Strategy": "strategies", "STRATEGIES": "strategies", "parse_strategy": "strategies",
    "class_index": "imagenet", "init_output_from_class": "imagenet",
})
