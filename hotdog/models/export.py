"""Export a trained net for serving: MXNet symbol/params or ONNX, fp32 or int8, with its preprocessing written down.

The classic serving bug (apache/mxnet#17695) is an exported model that gives wrong answers because the server
prepares images differently than training did. So the exported graph takes what is unambiguous, and the
folder states the rest with numbers:

* Inside the graph (``PreprocessedNet``): uint8 RGB images ``(batch, S, S, 3)`` -> float32, /255, minus the
  ImageNet mean, divided by the std, NHWC -> NCHW, the net, softmax. The output is probabilities in
  ``labels.json`` order.
* Outside the graph (``preprocessing.json``): squash-resize the decoded image to R x R with
  R = round(S * 256 / 224) (aspect ratio NOT kept, bilinear: OpenCV ``cv2.resize`` INTER_LINEAR, which is what
  ``mx.image.imresize(img, R, R, interp=1)`` calls), then centre-crop S x S. The resize is not in the graph
  because it would bind the graph to one input image size; ``preprocess_file`` does it exactly as the
  package's test transform (``Resize(R)``, ``CenterCrop(S)``) does.

An export folder holds::

    model-symbol.json, model-0000.params   (fmt='mxnet', fp32 or int8)  or  model.onnx (fmt='onnx')
    labels.json          ["class 0", "class 1", ...]: the order of the probabilities
    preprocessing.json   input layout/dtype, the resize and crop rule, what the graph already does
    export.json          format, int8 or not, versions, extra_info (e.g. the hotdog version)

It is written into a temporary folder next to ``out_dir`` and renamed into place at the end, so a failed
export leaves nothing half-written.

Using an MXNet export needs no hotdog code (see ``load_exported``'s docstring); ``load_exported`` and
``load_onnx`` wrap the same few lines into a predictor.
"""
import json
import logging
import os
import shutil
import tempfile
import time
import warnings

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, SymbolBlock

from .._io import atomic_write_json, building
from ..data.images import decode_image
from ..data.transforms import MEAN, STD, resize_size
from ..errors import HotdogError, mxnet_error_line

log = logging.getLogger(__name__)

FORMATS = ("mxnet", "onnx")
INPUT_NAME = "data"            # Gluon's HybridBlock.export names the single input 'data'
ONNX_OUTPUT_NAME = "probabilities"
MXNET_SYMBOL = "model-symbol.json"
MXNET_PARAMS = "model-0000.params"
ONNX_FILE = "model.onnx"
LABELS_FILE = "labels.json"
PREPROCESSING_FILE = "preprocessing.json"
EXPORT_INFO_FILE = "export.json"
# What to install for ONNX: the extra, which pins onnx and onnxruntime releases known to work with mxnet 1.9.1
# and numpy<1.24 on each Python (setup.py's ONNX).
ONNX_PIP = "pip install 'hotdog-finetune[onnx]'"
# The largest |difference| in probabilities between MXNet and onnxruntime that an ONNX export accepts.
ONNX_CHECK_TOLERANCE = 1e-4


def _check_image_size(image_size):
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise HotdogError("image_size must be a positive whole number of pixels (the crop side S, e.g. 224), "
                          "got {!r}".format(image_size))
    return int(image_size)


# ---------------------------------------------------------------------------------------------- the graph

class PreprocessedNet(HybridBlock):
    """A trained net with the tensor part of its preprocessing and the softmax inside the graph.

    Input: uint8 RGB images, NHWC ``(batch, S, S, 3)``, already squash-resized to R x R and centre-cropped to
    S x S (``preprocess_file``; the rule is written in ``preprocessing.json``). Resizing is left out of the
    graph because it would bind the graph to one input image size.

    The graph: cast to float32, /255, minus ``mean``, divided by ``std`` (both per channel, stored as constant
    parameters of shape (1, 1, 1, 3)), transpose to NCHW, ``net``, softmax over the classes. Output:
    probabilities ``(batch, classes)``. Every op (Cast, _div_scalar, broadcast_sub, broadcast_div, transpose,
    softmax) has a converter in MXNet 1.9.1's ONNX exporter.

    ``net``: an initialised Gluon HybridBlock taking normalised NCHW float32 images and returning logits.
    """

    PREFIX = "hotdog_input_"
    CAST_NAME = PREFIX + "cast0"  # how an exported graph shows that it starts with this block

    def __init__(self, net, mean=MEAN, std=STD, prefix=PREFIX, **kwargs):
        super().__init__(prefix=prefix, **kwargs)
        if len(mean) != 3 or len(std) != 3:
            raise HotdogError("mean and std need one number per RGB channel, got mean={} std={}".format(mean, std))
        with self.name_scope():
            self.net = net
            self.mean = self.params.get_constant(
                "mean", mx.nd.array(np.asarray(mean, dtype=np.float32).reshape(1, 1, 1, 3)))
            self.std = self.params.get_constant(
                "std", mx.nd.array(np.asarray(std, dtype=np.float32).reshape(1, 1, 1, 3)))
        ctx = _net_context(net)
        for param in (self.mean, self.std):
            param.initialize(ctx=ctx)

    def hybrid_forward(self, F, x, mean, std):  # pylint: disable=arguments-differ
        x = F.cast(x, dtype="float32") / 255.0
        x = F.broadcast_div(F.broadcast_sub(x, mean), std)
        x = F.transpose(x, axes=(0, 3, 1, 2))
        return F.softmax(self.net(x), axis=-1)


def _net_context(net):
    """The context of a net's (initialised) parameters; cpu() when it has none yet."""
    for param in net.collect_params().values():
        try:
            return param.list_ctx()[0]
        except (RuntimeError, IndexError):  # not initialised (yet)
            continue
    return mx.cpu()


def _graph_ops(block):
    """(op names, node names) of a block's graph, traced symbolically (nothing runs); None if it cannot be."""
    try:
        graph = json.loads(block(mx.sym.var(INPUT_NAME)).tojson())
    except Exception:  # pylint: disable=broad-except
        return None  # e.g. a non-hybrid child: then it is neither preprocessed nor quantized by us
    return {node["op"] for node in graph["nodes"]}, {node["name"] for node in graph["nodes"]}


def _describe(block):
    """(takes uint8 NHWC images, is int8) of a block."""
    if isinstance(block, PreprocessedNet):
        return True, False
    traced = _graph_ops(block)
    if not traced:
        return False, False
    ops, names = traced
    return PreprocessedNet.CAST_NAME in names, any(op.startswith("_contrib_quantize") for op in ops)


def _as_prepped(net):
    """(a block taking uint8 NHWC images, whether it is int8): ``net`` itself when it already takes them (a
    PreprocessedNet, one from ``quantize``, or one re-loaded from an export), else ``PreprocessedNet(net)``."""
    if not isinstance(net, HybridBlock):
        raise HotdogError("export needs a Gluon HybridBlock (e.g. a model-zoo net), got {}".format(type(net).__name__))
    prepped, quantized = _describe(net)
    if quantized and not prepped:
        raise HotdogError("this int8 net does not take uint8 images: quantize the trained net with "
                          "hotdog's quantize(), which adds the preprocessing first")
    return (net if prepped else PreprocessedNet(net)), quantized


def _num_outputs(prepped, image_size):
    """Runs one black image through the graph: the number of classes it outputs (and a readable error)."""
    ctx = _net_context(prepped)
    x = mx.nd.zeros((1, image_size, image_size, 3), dtype="uint8", ctx=ctx)
    try:
        out = prepped(x)
    except (mx.base.MXNetError, RuntimeError) as exc:  # RuntimeError: parameters not initialised
        raise HotdogError("the net cannot run on {0}x{0} RGB images ({1}). Is it initialised (load the "
                          "trained weights first) and is image_size right?".format(
                              image_size, mxnet_error_line(exc))) from None
    if out.ndim != 2:
        raise HotdogError("the net should output (batch, classes) scores, got shape {}".format(out.shape))
    return out.shape[1]


# ------------------------------------------------------------------------------------------ preprocessing

def preprocess_image(image, image_size):
    """A decoded HxWx3 uint8 RGB image (NDArray or numpy) -> the S x S x 3 uint8 numpy array the graph takes.

    Exactly the package's test transform before ToTensor: ``Resize(R)`` squashes to R x R (aspect ratio not
    kept; bilinear, OpenCV INTER_LINEAR), ``CenterCrop(S)`` takes the centre, R = round(S * 256 / 224).
    """
    size = _check_image_size(image_size)
    if not isinstance(image, mx.nd.NDArray):
        image = mx.nd.array(np.asarray(image), dtype="uint8")
    if image.ndim != 3 or image.shape[2] != 3:
        raise HotdogError("expected an HxWx3 RGB image, got shape {}".format(image.shape))
    side = resize_size(size)
    image = mx.image.imresize(image, side, side, interp=1)
    image, _ = mx.image.center_crop(image, (size, size), interp=1)
    return image.asnumpy().astype(np.uint8, copy=False)


def preprocess_file(path, image_size):
    """An image file -> the S x S x 3 uint8 array the graph takes, decoded as ``hotdog predict`` decodes it
    (``data.images.decode_image``: EXIF orientation applied, any mode to RGB, a broken file named)."""
    return preprocess_image(decode_image(path), image_size)


def _as_batch(images):
    """uint8 NHWC numpy batch from one HxWx3 image, a batch, a list of images or an NDArray."""
    if isinstance(images, mx.nd.NDArray):
        images = images.asnumpy()
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(i) for i in images])
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[3] != 3:
        raise HotdogError("expected uint8 RGB images shaped (batch, S, S, 3) (see preprocess_file), got shape {}"
                          .format(images.shape))
    if images.dtype != np.uint8:
        raise HotdogError("expected uint8 pixels 0..255 (the graph divides by 255 itself), got dtype {}"
                          .format(images.dtype))
    return images


# ---------------------------------------------------------------------------------------------- int8

def quantize(net_or_prepped, calibration_batches, num_calib_batches=None, exclude_layers=None, ctx=None,
             hybridize=True):
    """An int8 copy of a net (MKLDNN, ``calib_mode='naive'``): a SymbolBlock taking uint8 NHWC images.

    ``net_or_prepped``: a trained net (logits from normalised NCHW images) or a ``PreprocessedNet``.
    ``calibration_batches``: an iterable of uint8 batches ``(batch, S, S, 3)`` prepared like serving images
    (``preprocess_file``); the min/max of every layer's output over them become the int8 ranges, so use a few
    hundred representative images. ``num_calib_batches``: use at most that many of them.
    ``exclude_layers``: symbol names left in fp32 (e.g. the first conv, if accuracy drops too much).
    The convolutions, the dense layer and the layers between them run in int8; the preprocessing and the
    softmax stay fp32. The convolution weights stay fp32 in the params file (MKLDNN quantizes them when the
    graph is built), so it is about as large as the fp32 one.
    """
    from mxnet.contrib import quantization

    prepped, quantized = _as_prepped(net_or_prepped)
    if quantized:
        raise HotdogError("this net is int8 already: quantize the trained fp32 net")
    ctx = ctx or mx.cpu()
    if ctx.device_type != "cpu":
        raise HotdogError("int8 runs on the CPU (MKLDNN) only; got ctx={}".format(ctx))
    if not mx.runtime.Features().is_enabled("MKLDNN"):
        raise HotdogError("this MXNet build has no MKLDNN, which int8 needs: pip install mxnet==1.9.1 (the "
                          "PyPI build has it)")
    batches = []
    for batch in calibration_batches:
        array = _as_batch(batch)
        if batches and array.shape[1:] != batches[0].shape[1:]:
            raise HotdogError("calibration batches differ in image size: {} and {}".format(
                batches[0].shape, array.shape))
        # Values 0..255 as float32: the graph's cast is then a no-op, and the calibration Module (bound
        # float32) gets exactly the serving numbers.
        batches.append(mx.nd.array(array, dtype="float32", ctx=ctx))
        if num_calib_batches and len(batches) >= num_calib_batches:
            break
    if not batches:
        raise HotdogError("int8 needs calibration images: pass calibration= a list of uint8 batches "
                          "(batch, S, S, 3), e.g. a few hundred training images through preprocess_file")
    prepped.hybridize()
    prepped(batches[0][:1])
    # quantize_net's wrapper reads each item as a list of inputs: a bare batch would be taken as a list.
    calib = [[b] for b in batches]
    with warnings.catch_warnings():
        # quantize_net warns on every call that it 'will be deprecated after MXNet 2.0': not the user's concern
        warnings.filterwarnings("ignore", message=".*quantize_net_v2.*")
        warnings.filterwarnings("ignore", message="Cannot decide type", category=UserWarning)
        qnet = quantization.quantize_net(
            prepped, quantized_dtype="auto", quantize_mode="full", exclude_layers=exclude_layers,
            calib_data=calib, calib_mode="naive", num_calib_examples=sum(b.shape[0] for b in batches), ctx=ctx)
    if hybridize:
        qnet.hybridize(static_alloc=True, static_shape=True)
    return qnet


# ------------------------------------------------------------------------------------------------ export

def _check_out_dir(out_dir, overwrite):
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise HotdogError("{} exists and is not a folder: choose another output folder".format(out_dir))
        if os.listdir(out_dir) and not overwrite:
            raise HotdogError("{} already exists and is not empty: choose a new folder, or pass overwrite=True "
                              "(--overwrite) to replace it".format(out_dir))
    return out_dir


def _check_onnx_installed():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise HotdogError("ONNX export needs the onnx and onnxruntime packages ({}): {}".format(
            exc, ONNX_PIP)) from None


def preprocessing_info(image_size, fmt, output_name, num_classes):
    """What ``preprocessing.json`` says: everything a server must do before the graph, with numbers."""
    side = resize_size(image_size)
    return {
        "input": {
            "name": INPUT_NAME,
            "layout": "NHWC",
            "shape": [None, image_size, image_size, 3],
            "dtype": "uint8",
            "channels": "RGB",
            "value_range": [0, 255],
            "batch": "any size",
        },
        "steps_before_the_graph": [
            "decode the image as 8-bit RGB (grey and RGBA images: convert to RGB)",
            "resize to {0}x{0}: squash, the aspect ratio is NOT kept; bilinear (OpenCV cv2.resize "
            "INTER_LINEAR, i.e. mx.image.imresize(img, {0}, {0}, interp=1))".format(side),
            "centre-crop {0}x{0}: rows and columns from {1} to {1}+{0}".format(image_size, (side - image_size) // 2),
            "stack the images into a uint8 (batch, {0}, {0}, 3) array".format(image_size),
        ],
        "resize": {
            "rule": "squash",
            "keep_aspect_ratio": False,
            "width": side,
            "height": side,
            "formula": "round(crop * 256 / 224)",
            "interpolation": "bilinear",
            "implementation": "OpenCV cv2.resize INTER_LINEAR (mx.image.imresize interp=1)",
        },
        "crop": {
            "type": "centre",
            "width": image_size,
            "height": image_size,
            "offset_x": (side - image_size) // 2,
            "offset_y": (side - image_size) // 2,
        },
        "inside_the_graph": {
            "cast": "float32",
            "scale": "divide by 255",
            "mean": list(MEAN),
            "std": list(STD),
            "normalisation": "(pixel / 255 - mean) / std, per RGB channel",
            "transpose": "NHWC -> NCHW",
            "softmax": True,
        },
        "output": {
            "name": output_name,
            "shape": [None, num_classes],
            "dtype": "float32",
            "meaning": "probabilities, one per label in labels.json order (they sum to 1)",
        },
        "format": fmt,
    }


def export_model(net, classes, image_size, out_dir, fmt="mxnet", int8=False, calibration=None, extra_info=None,
                 overwrite=False, num_calib_batches=None):
    """Writes a servable copy of a trained net into ``out_dir`` (see the module docstring for what is in it).

    ``net``: the trained net (logits from normalised NCHW images), a ``PreprocessedNet``, or an int8 net from
    ``quantize``. ``classes``: the label names in output order. ``image_size``: the crop side S it was trained
    with. ``fmt``: 'mxnet' (symbol + params, loadable with ``SymbolBlock.imports``) or 'onnx' (fp32 only; the
    export is checked against MXNet with onnxruntime). ``int8``: quantize first with ``calibration`` (uint8
    batches, see ``quantize``). ``extra_info``: a dict added to export.json (e.g. ``{"hotdog_version": ...}``).
    ``overwrite``: replace an existing non-empty ``out_dir`` (only once the new export is complete).
    Returns the absolute ``out_dir``.
    """
    if fmt not in FORMATS:
        raise HotdogError("unknown export format {!r}: use one of {}".format(fmt, ", ".join(FORMATS)))
    image_size = _check_image_size(image_size)
    classes = [str(c) for c in classes] if classes is not None else []
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise HotdogError("classes must list two or more distinct label names in output order, got {}".format(classes))
    if extra_info is not None and not isinstance(extra_info, dict):
        raise HotdogError("extra_info must be a dict (e.g. {{'hotdog_version': '0.1.0'}}), got {}".format(
            type(extra_info).__name__))
    if fmt == "onnx":
        if int8:
            raise HotdogError("int8 export is MXNet-only (MXNet's ONNX exporter cannot convert its MKLDNN int8 "
                              "ops): use fmt='mxnet' with int8, or fmt='onnx' without it")
        _check_onnx_installed()
    out_dir = _check_out_dir(out_dir, overwrite)
    prepped, quantized = _as_prepped(net)
    if int8 and not quantized and calibration is None:
        raise HotdogError("int8 export needs calibration images: calibration= a list of uint8 batches "
                          "(batch, S, S, 3) prepared with preprocess_file (a few hundred images)")
    if fmt == "onnx" and quantized:
        raise HotdogError("this net is int8, and MXNet's ONNX exporter cannot convert its MKLDNN int8 ops: "
                          "export it with fmt='mxnet', or export the fp32 net to ONNX")
    n_out = _num_outputs(prepped, image_size)
    if n_out != len(classes):
        raise HotdogError("the net outputs {} scores but {} labels were given ({}): pass the classes it was "
                          "trained on, in order".format(n_out, len(classes), classes))
    if int8 and not quantized:
        prepped = quantize(prepped, calibration, num_calib_batches=num_calib_batches)
        quantized = True

    with building(out_dir, replace=True) as build:  # an old out_dir goes only once the new export is whole
        tmp = build.path
        if fmt == "mxnet":
            files = _write_mxnet(prepped, tmp, image_size)
            output_name = "output 0 of the SymbolBlock"
        else:
            files = _write_onnx(prepped, tmp, image_size)
            output_name = ONNX_OUTPUT_NAME
        atomic_write_json(os.path.join(tmp, LABELS_FILE), classes)
        atomic_write_json(os.path.join(tmp, PREPROCESSING_FILE),
                          preprocessing_info(image_size, fmt, output_name, len(classes)))
        info = {
            "format": fmt,
            "files": files + [LABELS_FILE, PREPROCESSING_FILE, EXPORT_INFO_FILE],
            "int8": bool(quantized),
            "precision": "int8 (MKLDNN, naive calibration)" if quantized else "float32",
            "image_size": image_size,
            "classes": len(classes),
            "mxnet_version": mx.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if fmt == "onnx":
            import onnx
            import onnxruntime
            info.update(onnx_version=onnx.__version__, onnxruntime_checked_with=onnxruntime.__version__)
        info.update(extra_info or {})
        atomic_write_json(os.path.join(tmp, EXPORT_INFO_FILE), info)
    # debug: the command line prints its own line with the files written; a library caller gets out_dir back
    log.debug("exported %s%s model to %s", fmt, " int8" if quantized else "", out_dir)
    return out_dir


def _write_mxnet(prepped, folder, image_size):
    ctx = _net_context(prepped)
    if not getattr(prepped, "_active", False):  # keep a caller's hybridize(static_alloc=...) flags
        prepped.hybridize()
    prepped(mx.nd.zeros((1, image_size, image_size, 3), dtype="uint8", ctx=ctx))
    prepped.export(os.path.join(folder, "model"), epoch=0)
    for name in (MXNET_SYMBOL, MXNET_PARAMS):
        if not os.path.isfile(os.path.join(folder, name)):
            raise HotdogError("MXNet did not write {}: export failed".format(name))
    return [MXNET_SYMBOL, MXNET_PARAMS]


def _write_onnx(prepped, folder, image_size):
    import onnx
    from mxnet import onnx as mx_onnx

    scratch = os.path.join(folder, "mxnet")
    os.mkdir(scratch)
    _write_mxnet(prepped, scratch, image_size)
    path = os.path.join(folder, ONNX_FILE)
    try:
        mx_onnx.export_model(os.path.join(scratch, MXNET_SYMBOL), os.path.join(scratch, MXNET_PARAMS),
                             in_shapes=[(1, image_size, image_size, 3)], in_types=[np.uint8],
                             onnx_file_path=path, dynamic=True,
                             dynamic_input_shapes=[(None, image_size, image_size, 3)])
    except (AttributeError, KeyError, NotImplementedError, ValueError) as exc:
        raise HotdogError("MXNet's ONNX exporter could not convert the net ({}: {}). Export with fmt='mxnet' "
                          "instead.".format(type(exc).__name__, exc)) from None
    model = onnx.load(path)
    _tidy_onnx_graph(model.graph)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    _check_onnx_matches(prepped, path, image_size)
    shutil.rmtree(scratch)
    return [ONNX_FILE]


def _tidy_onnx_graph(graph):
    """Initializers out of graph.input (onnxruntime warns, and they could be overridden at run time), and the
    output renamed to ``probabilities``."""
    weights = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)
    if [value.name for value in graph.input] != [INPUT_NAME]:
        raise HotdogError("the ONNX graph should have the one input {!r}, got {}".format(
            INPUT_NAME, [value.name for value in graph.input]))
    if len(graph.output) != 1:
        raise HotdogError("the ONNX graph should have one output, got {}".format(len(graph.output)))
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [ONNX_OUTPUT_NAME if name == old else name for name in node.output]
        node.input[:] = [ONNX_OUTPUT_NAME if name == old else name for name in node.input]
    graph.output[0].name = ONNX_OUTPUT_NAME


def _onnx_session(path, threads=None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _check_onnx_matches(prepped, path, image_size):
    """The exported ONNX model, run by onnxruntime, must give MXNet's probabilities on a random batch."""
    rng = np.random.RandomState(0)
    batch = rng.randint(0, 256, size=(3, image_size, image_size, 3)).astype(np.uint8)
    expected = prepped(mx.nd.array(batch, dtype="uint8", ctx=_net_context(prepped))).asnumpy()
    got = _onnx_session(path).run([ONNX_OUTPUT_NAME], {INPUT_NAME: batch})[0]
    diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
    if not diff <= ONNX_CHECK_TOLERANCE:
        raise HotdogError("the ONNX export disagrees with MXNet (largest probability difference {:.2g}, shape {} "
                          "vs {}). Export with fmt='mxnet' instead.".format(diff, got.shape, expected.shape))


# ------------------------------------------------------------------------------------------------ loading

def _read_json(folder, name):
    path = os.path.join(folder, name)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError:
        raise HotdogError("{} is missing: is {} an export folder (written by export_model)?".format(
            path, folder)) from None
    except ValueError as exc:
        raise HotdogError("{} is not valid JSON ({}): export the model again".format(path, exc)) from None


def read_export_info(folder):
    """export.json of an export folder (format, int8, versions, what it was exported from)."""
    return _read_json(folder, EXPORT_INFO_FILE)


def is_export_folder(folder):
    return os.path.isfile(os.path.join(folder, EXPORT_INFO_FILE))


def load_any(folder, ctx=None):
    """A ``Predictor`` for an export folder of either format."""
    fmt = read_export_info(folder).get("format")
    return load_onnx(folder) if fmt == "onnx" else load_exported(folder, ctx)


class Predictor:
    """Probabilities from an export folder: ``predictor(images)`` with uint8 (batch, S, S, 3) images ->
    float32 (batch, classes); ``predict_files(paths)`` reads, resizes and crops files first."""

    def __init__(self, folder, run, fmt):
        self.folder = folder
        self.format = fmt
        self.labels = _read_json(folder, LABELS_FILE)
        self.preprocessing = _read_json(folder, PREPROCESSING_FILE)
        self.info = _read_json(folder, EXPORT_INFO_FILE)
        self.image_size = int(self.preprocessing["crop"]["height"])
        self._run = run

    def __call__(self, images):
        batch = _as_batch(images)
        if batch.shape[1:3] != (self.image_size, self.image_size):
            raise HotdogError("this model takes {0}x{0} images, got {1}x{2}: prepare them with "
                              "preprocess_file(path, {0})".format(self.image_size, batch.shape[1], batch.shape[2]))
        return self._run(batch)

    def predict_files(self, paths):
        """One dict per file: ``label``, ``probability`` and ``probabilities`` (label -> probability)."""
        batch = np.stack([preprocess_file(p, self.image_size) for p in paths]) if paths else None
        results = []
        for path, probs in zip(paths, self(batch) if paths else []):
            best = int(np.argmax(probs))
            results.append({"path": path, "label": self.labels[best], "probability": float(probs[best]),
                            "probabilities": dict(zip(self.labels, map(float, probs)))})
        return results


def load_exported(folder, ctx=None):
    """A ``Predictor`` for an MXNet export folder (fp32 or int8).

    It is plain MXNet; without hotdog the same thing is::

        import json
        import mxnet as mx

        folder = "exported"
        net = mx.gluon.SymbolBlock.imports(folder + "/model-symbol.json", ["data"], folder + "/model-0000.params")
        labels = json.load(open(folder + "/labels.json"))
        prep = json.load(open(folder + "/preprocessing.json"))
        R, S = prep["resize"]["width"], prep["crop"]["width"]
        image = mx.image.imread("photo.jpg")               # H x W x 3, uint8, RGB
        image = mx.image.imresize(image, R, R, interp=1)    # squash to R x R: the aspect ratio is not kept
        image, _ = mx.image.center_crop(image, (S, S))     # the centre S x S
        probs = net(image.expand_dims(0))[0].asnumpy()      # uint8 NHWC in; normalisation is in the graph
        print(labels[probs.argmax()], probs.max())
    """
    folder = os.fspath(folder)
    info = _read_json(folder, EXPORT_INFO_FILE)
    if info.get("format") != "mxnet":
        raise HotdogError("{} holds a {!r} export: use load_onnx for ONNX".format(folder, info.get("format")))
    ctx = ctx or mx.cpu()
    try:
        with warnings.catch_warnings():
            # Every SymbolBlock.imports warns that it cannot tell the input's type: the input is uint8.
            warnings.filterwarnings("ignore", message="Cannot decide type", category=UserWarning)
            net = SymbolBlock.imports(os.path.join(folder, MXNET_SYMBOL), [INPUT_NAME],
                                      os.path.join(folder, MXNET_PARAMS), ctx=ctx)
    except (mx.base.MXNetError, OSError, AssertionError) as exc:
        raise HotdogError("cannot load the MXNet model in {} ({}). Export it again.".format(
            folder, mxnet_error_line(exc))) from None
    net.hybridize(static_alloc=True, static_shape=True)

    def run(batch):
        return net(mx.nd.array(batch, dtype="uint8", ctx=ctx)).asnumpy()

    predictor = Predictor(folder, run, "mxnet")
    predictor.net = net
    return predictor


def load_onnx(folder, threads=None):
    """A ``Predictor`` for an ONNX export folder, run by onnxruntime on ``threads`` CPU threads (default: all
    cores)."""
    folder = os.fspath(folder)
    info = _read_json(folder, EXPORT_INFO_FILE)
    if info.get("format") != "onnx":
        raise HotdogError("{} holds a {!r} export: use load_exported for MXNet".format(folder, info.get("format")))
    _check_onnx_installed()
    path = os.path.join(folder, ONNX_FILE)
    if not os.path.isfile(path):
        raise HotdogError("{} is missing: export the model again".format(path))
    session = _onnx_session(path, threads)

    def run(batch):
        return session.run([ONNX_OUTPUT_NAME], {INPUT_NAME: batch})[0]

    predictor = Predictor(folder, run, "onnx")
    predictor.session = session
    return predictor


# ------------------------------------------------------------------------------------------------ speed

def cpu_int8_support(cpuinfo="/proc/cpuinfo"):
    """What this CPU offers int8 inference, in words (Linux; None elsewhere). int8 convolutions run on
    AVX-512 VNNI (or AVX-VNNI) instructions where the CPU has them, else on slower AVX2/AVX-512 sequences:
    the int8/float32 speed ratio depends on it more than on anything in this package."""
    try:
        with open(cpuinfo) as f:
            text = f.read()
    except OSError:
        return None
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    vnni = sorted(flags & {"avx512_vnni", "avx_vnni"})
    widest = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return "{}: {}, {}".format(model, widest, "VNNI ({})".format(", ".join(vnni)) if vnni else "no VNNI")


def benchmark_inference(image_size=224, batch_size=32, rounds=3, iterations=5, calibration_batches=4,
                        with_onnx=True, num_classes=2, onnx_threads=None, report=print):
    """Images per second of resnet18_v2 inference (uint8 NHWC in, probabilities out) for fp32 MXNet
    (hybridized, static_alloc + static_shape), int8 MXNet (MKLDNN, naive calibration) and onnxruntime fp32.

    The weights are random (speed does not depend on them). The engines take turns: ``rounds`` rounds of
    ``iterations`` batches each, after one warm-up batch, so that a busy machine slows them alike.
    MXNet computes on OMP_NUM_THREADS threads (set before mxnet is imported; hotdog sets it to all cores),
    onnxruntime on ``onnx_threads`` (default: all cores).
    Returns ``{engine: images per second}``; ``report`` gets one line per engine with its ratio to fp32.
    """
    rng = np.random.RandomState(0)
    shape = (batch_size, image_size, image_size, 3)
    batch = rng.randint(0, 256, size=shape).astype(np.uint8)
    net = mx.gluon.model_zoo.vision.get_model("resnet18_v2", classes=num_classes)
    net.initialize(mx.init.Xavier())
    engines = {}

    # int8 first: quantize_net re-hybridizes the net it is given (without static_alloc)
    calibration = [rng.randint(0, 256, size=shape).astype(np.uint8) for _ in range(calibration_batches)]
    int8_net = quantize(net, calibration)
    int8_input = mx.nd.array(batch, dtype="uint8")
    engines["MXNet int8"] = lambda: int8_net(int8_input).wait_to_read()

    fp32_net = PreprocessedNet(net)
    onnx_dir = None
    if with_onnx:
        _check_onnx_installed()
        onnx_dir = tempfile.mkdtemp(prefix="hotdog-bench-onnx-")
        export_model(fp32_net, [str(i) for i in range(num_classes)], image_size, os.path.join(onnx_dir, "model"),
                     fmt="onnx")
        session = load_onnx(os.path.join(onnx_dir, "model"), threads=onnx_threads).session
        engines["onnxruntime fp32"] = lambda: session.run([ONNX_OUTPUT_NAME], {INPUT_NAME: batch})
    fp32_net.hybridize(static_alloc=True, static_shape=True)
    fp32_input = mx.nd.array(batch, dtype="uint8")
    engines = dict([("MXNet fp32", lambda: fp32_net(fp32_input).wait_to_read())] + list(engines.items()))
    try:
        for run in engines.values():  # warm-up: graph building, MKLDNN primitive creation
            run()
        elapsed = {name: 0.0 for name in engines}
        for _ in range(rounds):
            for name, run in engines.items():
                start = time.perf_counter()
                for _ in range(iterations):
                    run()
                elapsed[name] += time.perf_counter() - start
    finally:
        if onnx_dir:
            shutil.rmtree(onnx_dir, ignore_errors=True)
    speeds = {name: rounds * iterations * batch_size / seconds for name, seconds in elapsed.items()}
    for name, speed in speeds.items():
        report("{:<18} {:8.1f} images/s   {:5.2f}x fp32".format(name, speed, speed / speeds["MXNet fp32"]))
    return speeds
