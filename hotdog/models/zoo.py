"""Weights from files: the model zoo's pretrained nets (cache, mirror, offline), and .params files loaded
with a check that names the first parameter that does not fit.
"""
import contextlib
import io
import logging
import os

import mxnet as mx
import requests
from mxnet.gluon.model_zoo import model_store
from mxnet.gluon.model_zoo.vision import get_model

from .. import _mx
from ..errors import HotdogError
from .backbones import DEFAULT_BACKBONE, get_backbone

log = logging.getLogger(__name__)

IMAGENET_CLASSES = 1000


class ParamsError(HotdogError):
    """A .params file is missing, unreadable, or does not fit the architecture."""


class PretrainedUnavailableError(HotdogError):
    """The model zoo weights cannot be had (offline, no cache)."""


def zoo_params_file(name):
    """The file name the model zoo caches the pretrained weights under, e.g. resnet18_v2-a81db45f.params."""
    zoo_name = get_backbone(name).zoo_name
    return "{}-{}.params".format(zoo_name, model_store.short_hash(zoo_name))


def zoo_cache_dir():
    """Where the model zoo looks for weights: $MXNET_HOME/models (default ~/.mxnet/models)."""
    return os.path.join(mx.base.data_dir(), "models")


def context_list(ctx):
    """``ctx`` as a list of contexts (None: the CPU)."""
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
    expected = _mx.params_by_structural_name(net)  # the names save_parameters uses
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
    net.load_parameters(path, ctx=context_list(ctx))
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
            return get_model(backbone.zoo_name, pretrained=True, ctx=context_list(ctx), root=zoo_cache_dir())
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
