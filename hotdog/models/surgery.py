"""Model surgery: the fine-tune net (pretrained features + a new output), the scratch net, and freezing.

Frozen means two things: the weights get no gradient (``grad_req='null'``) *and* their BatchNorm layers use
their stored running statistics (``use_global_stats``). Without the second, a "frozen" backbone is not
frozen, the pitfall most users hit: in training mode BatchNorm normalises with each batch's own statistics
(so the features seen in training differ from those at test time), and with cuDNN it also overwrites the
running mean and variance in the forward pass. (MXNet's CPU kernels update them in the backward pass,
which a frozen prefix never gets; the first effect holds everywhere.)
"""
import os
import tempfile

import mxnet as mx
import numpy as np
from mxnet import autograd
from mxnet.gluon import nn
from mxnet.gluon.model_zoo.vision import get_model

from .. import _mx
from .backbones import DEFAULT_BACKBONE, get_backbone
from .zoo import context_list


def infer_shapes(net, ctx, image_size=64):
    """Resolve deferred shapes with one tiny forward pass.

    In training mode inside ``autograd.record``: an inference-mode forward lets MKLDNN re-lay the weights
    out in place, and a distributed kvstore then fails to initialise them (the server aborts with
    "init N first"; seen here, with record(train_mode=False) too). Training mode may move BatchNorm
    running statistics (cuDNN updates them in the forward pass), so they are put back afterwards.
    """
    ctx = context_list(ctx)
    stats = [(p, [a.copy() for a in p.list_data()]) for p in _mx.running_stat_params(net) if _mx.is_initialised(p)]
    batch = 2  # BatchNorm in training mode needs more than one value per channel
    with autograd.record(train_mode=True):
        net(mx.nd.zeros((batch, 3, image_size, image_size), ctx=ctx[0]))
    for param, saved in stats:
        for arr, old in zip(param.list_data(), saved):
            old.copyto(arr)


def copy_features(src_net, dst_net, ctx=None):
    """Copy (not share) the pretrained ``features`` weights into ``dst_net.features``.

    The chapter assigns the block itself (``finetune_net.features = pretrained_net.features``), so the two
    nets share parameters and training one changes the other. We copy instead: ``compare`` builds several
    nets from one pretrained net (fine-tune, frozen, partial...), and each must start from the untouched
    ImageNet weights, while the pretrained net stays usable for ``zeroshot`` and ``hotdog-init``.
    """
    fd, tmp = tempfile.mkstemp(suffix=".params")
    os.close(fd)
    try:
        src_net.features.save_parameters(tmp)
        dst_net.features.load_parameters(tmp, ctx=context_list(ctx))
    finally:
        os.remove(tmp)


def set_output_lr_mult(net, output_lr_mult):
    """Scale the output layer's learning rate (the book's later editions use 10; 1 is the chapter's)."""
    if output_lr_mult != 1.0:
        net.output.collect_params().setattr("lr_mult", output_lr_mult)
    return net


def finetune_net(pretrained, name=DEFAULT_BACKBONE, num_classes=2, ctx=None, output_lr_mult=1.0):
    """A ``num_classes`` net whose ``features`` hold a copy of ``pretrained.features`` and whose ``output`` is
    freshly Xavier-initialised."""
    net = get_model(get_backbone(name).zoo_name, classes=num_classes)
    copy_features(pretrained, net, ctx)
    net.output.initialize(mx.init.Xavier(), ctx=context_list(ctx))
    set_output_lr_mult(net, output_lr_mult)
    infer_shapes(net, ctx)
    return net


def scratch_net(name=DEFAULT_BACKBONE, num_classes=2, ctx=None):
    """The same architecture with every parameter Xavier-initialised; nothing shared with anything."""
    net = get_model(get_backbone(name).zoo_name, classes=num_classes)
    net.initialize(mx.init.Xavier(), ctx=context_list(ctx))
    infer_shapes(net, ctx)
    return net


def _use_running_stats(block):
    if isinstance(block, nn.BatchNorm):
        _mx.use_running_stats(block)


def freeze_features(net, model, trainable_stages):
    """Freeze all of ``net.features`` but its last ``trainable_stages`` stages (0 = all of it; None = none)."""
    if trainable_stages is None:
        return net
    children = _mx.child_blocks(net.features)
    starts = get_backbone(model).stage_starts
    cut = starts[-trainable_stages] if trainable_stages else len(children)
    for child in children[:cut]:
        child.collect_params().setattr("grad_req", "null")
        child.apply(_use_running_stats)
    return net


def parameter_counts(net):
    """(trainable, frozen) numbers of scalars; BatchNorm running statistics count as frozen."""
    trainable = frozen = 0
    for param in net.collect_params().values():
        size = int(np.prod(param.shape)) if param.shape else 0
        if param.grad_req == "null":
            frozen += size
        else:
            trainable += size
    return trainable, frozen


def trainable_params(net):
    """The parameters a Trainer should update (frozen ones have grad_req 'null')."""
    return {name: p for name, p in net.collect_params().items() if p.grad_req != "null"}
