"""Model surgery: backbones by name, pretrained weights, the fine-tune net and the scratch net.

Every backbone in the registry comes from the Gluon model zoo and has the zoo's split into ``features``
(everything up to the pooled feature vector) and ``output`` (the classifier). The fine-tune net keeps the
pretrained ``features`` and gets a new ``output`` for our 2 classes, as in the chapter.
"""
import contextlib
import io
import logging
import os
import tempfile
from collections import namedtuple

import mxnet as mx
import numpy as np
import requests
from mxnet import autograd
from mxnet.gluon.model_zoo import model_store
from mxnet.gluon.model_zoo.vision import get_model

from .errors import HotdogError
from .layout import CLASSES

log = logging.getLogger(__name__)

IMAGENET_CLASSES = 1000

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


class ParamsError(HotdogError):
    """A .params file is missing, unreadable, or does not fit the architecture."""


class PretrainedUnavailableError(HotdogError):
    """The model zoo weights cannot be had (offline, no cache)."""


def get_backbone(name):
    try:
        return BACKBONES[name]
    except KeyError:
        raise HotdogError("unknown model {!r}; choose one of: {}".format(name, ", ".join(BACKBONES))) from None


def zoo_params_file(name):
    """The file name the model zoo caches the pretrained weights under, e.g. resnet18_v2-a81db45f.params."""
    zoo_name = get_backbone(name).zoo_name
    return "{}-{}.params".format(zoo_name, model_store.short_hash(zoo_name))


def zoo_cache_dir():
    """Where the model zoo looks for weights: $MXNET_HOME/models (default ~/.mxnet/models)."""
    return os.path.join(mx.base.data_dir(), "models")


def as_context_list(ctx):
    if ctx is None:
        return [mx.cpu()]
    return list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]


def load_params_checked(net, path, ctx=None, what="the network"):
    """``net.load_parameters(path)``, but a file that does not fit names the first mismatching parameter."""
    if not os.path.isfile(path):
        raise ParamsError("params file {} does not exist".format(path))
    try:
        loaded = mx.nd.load(path)
    except mx.base.MXNetError:
        raise ParamsError("cannot read {}: not an MXNet .params file, or it is truncated. Save it again with "
                          "net.save_parameters() or download it again.".format(path)) from None
    if not isinstance(loaded, dict):
        raise ParamsError("{} holds a list of arrays, not named parameters (save it with save_parameters)".format(path))
    # Files written by HybridBlock.export() prefix their names with arg:/aux:.
    loaded = {k.split(":", 1)[-1]: v for k, v in loaded.items()}
    expected = net._collect_params_with_prefix()  # the names save_parameters uses
    for name, param in expected.items():
        if name not in loaded:
            raise ParamsError("{} does not fit {}: parameter '{}' is missing from the file{}".format(
                path, what, name, " (it has e.g. '{}')".format(next(iter(loaded))) if loaded else ""))
        want, got = param.shape, loaded[name].shape
        # Unknown (deferred) dimensions are 0 in `want`; compare the known ones.
        if len(want) != len(got) or any(w and w != g for w, g in zip(want, got)):
            raise ParamsError("{} does not fit {}: parameter '{}' has shape {} in the file, {} in the "
                              "architecture".format(path, what, name, got, want))
    extra = [name for name in loaded if name not in expected]
    if extra:
        raise ParamsError("{} does not fit {}: unexpected parameter '{}' in the file".format(path, what, extra[0]))
    net.load_parameters(path, ctx=as_context_list(ctx))
    return net


def pretrained_net(name=DEFAULT_BACKBONE, params_file=None, ctx=None, classes=IMAGENET_CLASSES):
    """The ImageNet net: from ``params_file`` if given, else from the model zoo (cache or download).

    The zoo honours ``MXNET_HOME`` (cache) and ``MXNET_GLUON_REPO`` (mirror). ``classes``: the number of
    classes the params file was trained on (1000 for ImageNet; the offline demo's source task has fewer).
    """
    backbone = get_backbone(name)
    if params_file:
        net = get_model(backbone.zoo_name, classes=classes)
        return load_params_checked(net, params_file, ctx, what="{} with {} classes".format(name, classes))
    chatter = io.StringIO()
    try:
        # The zoo prints every retry to stdout; keep that out of the user's way and say it once.
        log.info("loading pretrained %s from the model zoo (cache: %s)", name, zoo_cache_dir())
        with contextlib.redirect_stdout(chatter):
            # root= explicitly: the zoo's default is computed when mxnet is imported, so a later MXNET_HOME
            # would otherwise be ignored.
            return get_model(backbone.zoo_name, pretrained=True, ctx=as_context_list(ctx), root=zoo_cache_dir())
    except Exception as exc:  # the zoo raises requests, Runtime and Value errors; all mean "not available"
        log.debug("model zoo output:\n%s", chatter.getvalue())
        cache = zoo_cache_dir()
        raise PretrainedUnavailableError(
            "the pretrained {} weights are not available ({}). The model zoo looks for {} in {} "
            "($MXNET_HOME/models) and otherwise downloads it (from $MXNET_GLUON_REPO if set). Offline: copy "
            "that file into {}, or pass --pretrained-params FILE.".format(
                name, _short_reason(exc), zoo_params_file(name), cache, cache)) from None


def _short_reason(exc):
    if isinstance(exc, requests.ConnectionError):
        return "no connection to the model repository"
    if isinstance(exc, requests.Timeout):
        return "the model repository timed out"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def infer_shapes(net, ctx, image_size=64):
    """Resolve deferred shapes with one tiny forward pass.

    In training mode inside ``autograd.record``: an inference-mode forward lets MKLDNN re-lay the weights
    out in place, and a distributed kvstore then fails to initialise them (the server aborts with
    "init N first"; seen here, with record(train_mode=False) too). Training mode may move BatchNorm
    running statistics (cuDNN updates them in the forward pass), so they are put back afterwards.
    """
    ctx = as_context_list(ctx)
    stats = [(p, [a.copy() for a in p.list_data()]) for p in net.collect_params().values()
             if "running" in p.name and p._data is not None]
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
        dst_net.features.load_parameters(tmp, ctx=as_context_list(ctx))
    finally:
        os.remove(tmp)


def finetune_net(pretrained, name=DEFAULT_BACKBONE, num_classes=len(CLASSES), ctx=None, output_lr_mult=1.0):
    """A ``num_classes`` net whose ``features`` hold a copy of ``pretrained.features`` and whose ``output`` is
    freshly Xavier-initialised. ``output_lr_mult`` (the book's later editions use 10) scales the output
    layer's learning rate; 1 reproduces the chapter's MXNet edition."""
    net = get_model(get_backbone(name).zoo_name, classes=num_classes)
    copy_features(pretrained, net, ctx)
    net.output.initialize(mx.init.Xavier(), ctx=as_context_list(ctx))
    if output_lr_mult != 1.0:
        net.output.collect_params().setattr("lr_mult", output_lr_mult)
    infer_shapes(net, ctx)
    return net


def scratch_net(name=DEFAULT_BACKBONE, num_classes=len(CLASSES), ctx=None):
    """The same architecture with every parameter Xavier-initialised; nothing shared with anything."""
    net = get_model(get_backbone(name).zoo_name, classes=num_classes)
    net.initialize(mx.init.Xavier(), ctx=as_context_list(ctx))
    infer_shapes(net, ctx)
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
