"""Decoding image files carefully: every bad file named, phone photos the right way up.

MXNet's own decoder (OpenCV inside ``mx.image.imread``/``imdecode``) has two problems with real photo
folders: it ignores the EXIF Orientation tag, so a phone photo taken in portrait comes out lying on its
side, and it decodes asynchronously, so a broken file fails later, somewhere else, as an MXNet stack trace.
``decode_image`` decodes with Pillow instead and checks, in this order:

  1. the file can be read and is not empty                      -> "cannot read", "empty file"
  2. Pillow recognises the header                               -> "not an image" (or "truncated")
  3. width x height from the header is within ``max_pixels``   -> "too large", before any pixel memory
  4. the pixel data decodes completely, never silently padded   -> "truncated", "corrupt"

then turns the image upright (EXIF) and converts it to 8-bit RGB. Each failure is an ``UnreadableImage``
naming the file, the problem and what to do about it.
"""
import contextlib
import hashlib
import io
import logging
import re
import threading
import warnings

import numpy as np
from PIL import ExifTags, Image, ImageFile

from ..errors import HotdogError

log = logging.getLogger(__name__)

# 120 megapixels. The largest photos phones take by default are 108 MP (12000 x 9000), and they pass; an
# image beyond this is a scan, a panorama or a decompression bomb (a small file that claims a huge size).
# Decoding costs 3 bytes a pixel, so 120 MP is 360 MB of RGB, about 1 GB at the peak while converting and
# rotating, per decoding process. Training crops 224 px anyway: downscaling such an image loses nothing.
# It is also below Pillow's own hard refusal (2 x PIL.Image.MAX_IMAGE_PIXELS, about 179 MP), so with the
# default it is our message, with the image's size in it, that a user sees.
DEFAULT_MAX_PIXELS = 120_000_000

# The reasons an UnreadableImage gives: short categories a report can group by.
CANNOT_READ = "cannot read"
EMPTY = "empty file"
NOT_AN_IMAGE = "not an image"
TRUNCATED = "truncated"
CORRUPT = "corrupt"
TOO_LARGE = "too large"

_EXIF_ORIENTATION = ExifTags.Base.Orientation
# EXIF Orientation value -> the turn that makes the stored pixels upright (1 is upright already). This is
# ImageOps.exif_transpose's table; that function also rewrites the image's metadata, which has raised on
# real phone photos in some Pillow releases (python-pillow/Pillow#3973, #8605, #8790), and only the pixels
# matter here.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class UnreadableImage(HotdogError):
    """An image file that cannot be used.

    ``path``: the file as the message names it (its path, unless the caller gave a ``name``);
    ``reason``: one of the categories above.
    """

    def __init__(self, path, reason, message):
        super().__init__(message)
        self.path = path
        self.reason = reason


def decode_image(source, max_pixels=DEFAULT_MAX_PIXELS, name=None):
    """The image in ``source`` (a path, or the file's bytes) as an upright HxWx3 uint8 RGB numpy array.

    ``name`` is how messages call the image (default: the path, or "image data" for bytes).
    Raises UnreadableImage for anything that is not a complete image within ``max_pixels``.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "image data"
    else:
        name = name or str(source)
        data = _read(source, name)
    return _decode(data, name, max_pixels)[0]


def inspect_image(path, max_pixels=DEFAULT_MAX_PIXELS, name=None):
    """What the dataset checker needs to know about one file, reading it once. Never raises for bad files.

    Returns a JSON-serialisable dict: ``ok``; ``reason`` and ``message`` (None when ok); ``width`` and
    ``height`` as training sees them (after EXIF rotation); ``mode``, Pillow's mode in the file;
    ``converted`` (that mode was not RGB); ``exif_rotated``; ``sha1`` of the file's bytes. Values that
    a bad file does not have are None (False for the flags).
    """
    name = name or str(path)
    info = {"ok": True, "reason": None, "message": None, "width": None, "height": None, "mode": None,
            "converted": False, "exif_rotated": False, "sha1": None}
    try:
        data = _read(path, name)
        info["sha1"] = hashlib.sha1(data).hexdigest()
        pixels, facts = _decode(data, name, max_pixels)
    except UnreadableImage as exc:
        info.update(ok=False, reason=exc.reason, message=str(exc))
        return info
    info.update(height=pixels.shape[0], width=pixels.shape[1], **facts)
    return info


def _read(path, name):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise UnreadableImage(name, CANNOT_READ, "{}: cannot read the file ({}); check that it exists and that "
                              "you may read it".format(name, exc.strerror or exc)) from None


def _decode(data, name, max_pixels):
    """(pixels, {"mode", "converted", "exif_rotated"}) for the file's bytes, or UnreadableImage."""
    if not data:
        raise UnreadableImage(name, EMPTY, "{}: empty file (0 bytes); copy it again or remove it".format(name))
    im = _open(data, name, max_pixels)
    if im.width * im.height > max_pixels:
        raise UnreadableImage(name, TOO_LARGE, _too_large_message(
            name, "{} x {} = {:,} pixels".format(im.width, im.height, im.width * im.height),
            "the limit of {:,}".format(max_pixels), "raise the limit (max_pixels)"))
    try:
        with _truncated_data_refused():
            im.load()
    except Exception as exc:  # Pillow's plugins raise OSError, SyntaxError, ValueError, EOFError,
        # struct.error, zlib.error... for bad data: any of them means that this file cannot be decoded.
        if "truncated" in str(exc) or isinstance(exc, EOFError):
            raise UnreadableImage(name, TRUNCATED, "{}: truncated image data (the file is incomplete; copy it "
                                  "again or remove it)".format(name)) from None
        raise UnreadableImage(name, CORRUPT, "{}: corrupt image data ({}: {}); replace or remove the file".format(
            name, type(exc).__name__, exc)) from None
    im, rotated = _upright(im, name)
    return _to_rgb(im), {"mode": im.mode, "converted": im.mode != "RGB", "exif_rotated": rotated}


# warnings.catch_warnings swaps the process-wide list of warning filters and puts it back on exit: two
# threads interleaving their enter and exit could leave one's change behind, so they take turns. What runs
# inside (parsing a header, reading EXIF tags) is quick; decoding the pixels runs outside.
_WARNINGS_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_warnings_logged(name):
    """Pillow's warnings about a file ("Corrupt EXIF data", DecompressionBombWarning...) go to the debug log:
    the checks here decide what is wrong with a file, and say it once, in an UnreadableImage."""
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        log.debug("%s: %s", name, warning.message)


def _open(data, name, max_pixels):
    """Image.open (the header only), with Pillow's decompression-bomb checks turned into our messages."""
    try:
        # Pillow warns above PIL.Image.MAX_IMAGE_PIXELS (89 MP); our max_pixels check decides instead.
        with _pillow_warnings_logged(name):
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        # Pillow refuses outright above twice its own limit, inside Image.open, so we never learn the width
        # and height; its message gives the number of pixels.
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(claimed.group(1)) if claimed else None
        size = "{:,} pixels".format(pixels) if pixels else "the image"
        if pixels and pixels > max_pixels:
            limit, how_to_raise = "the limit of {:,}".format(max_pixels), "raise the limit (max_pixels)"
        else:
            limit = "Pillow's own limit of {:,}".format(2 * Image.MAX_IMAGE_PIXELS)
            how_to_raise = "raise PIL.Image.MAX_IMAGE_PIXELS as well as max_pixels"
        raise UnreadableImage(name, TOO_LARGE, _too_large_message(name, size, limit, how_to_raise)) from None
    except Exception as exc:  # UnidentifiedImageError mostly; broken headers raise other types
        if "truncated" in str(exc).lower():
            raise UnreadableImage(name, TRUNCATED, "{}: truncated image (the file ends inside its header; copy it "
                                  "again or remove it)".format(name)) from None
        raise UnreadableImage(name, NOT_AN_IMAGE, "{}: not an image Pillow can read{}; replace it with a JPEG or "
                              "PNG, or remove it".format(name, _looks_like(data))) from None


def _too_large_message(name, size, limit, how_to_raise):
    return "{}: {} is over {} pixels (refused before decoding: it could exhaust memory); downscale the image, " \
           "or {}".format(name, size, limit, how_to_raise)


def _looks_like(data):
    """A hint for a file that starts with readable text (an HTML error page saved as .jpg, a renamed note):
    " (it looks like text: '...')", or "" for anything else."""
    head = data[:40]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    if not text.strip() or not all(c.isprintable() or c.isspace() for c in text):
        return ""
    return " (it looks like text: {!r})".format(" ".join(text.split())[:30])


# Pillow reads ImageFile.LOAD_TRUNCATED_IMAGES, a module global, while decoding; when True it silently pads
# a cut-off image with grey. It is False by default, but other code in the process may have set it. Decodes
# that need it False count themselves in and out, so that concurrent decodes in threads never restore the
# global while another one still depends on it being False.
_strict_lock = threading.Lock()
_strict_decodes = 0
_setting_before = False


@contextlib.contextmanager
def _truncated_data_refused():
    global _strict_decodes, _setting_before
    with _strict_lock:
        if _strict_decodes == 0:
            _setting_before = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        _strict_decodes += 1
    try:
        yield
    finally:
        with _strict_lock:
            _strict_decodes -= 1
            if _strict_decodes == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = _setting_before


def _upright(im, name):
    """(image turned as its EXIF Orientation says, whether it was turned)."""
    try:
        with _pillow_warnings_logged(name):
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception as exc:  # a malformed EXIF block that this Pillow cannot parse at all (#8348): the
        # pixels are fine, only the orientation is unknown; dropping a good photo for that would be worse.
        log.debug("%s: unreadable EXIF data (%s), orientation left as stored", name, exc)
        return im, False
    if orientation not in _UPRIGHT:  # 1 (upright), or a value that means nothing
        return im, False
    return im.transpose(_UPRIGHT[orientation]), True


def _to_rgb(im):
    """HxWx3 uint8 RGB of any mode a JPEG or PNG can have.

    Alpha is dropped and the colour values kept (no compositing onto a background), as OpenCV's
    IMREAD_COLOR does: that is what MXNet's decoder, used by the chapter and by models trained with it,
    gives for the same file, so a photo means the same pixels to training, prediction and the cache.
    """
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale. convert("RGB") clips every value above 255 to white; scale the range instead,
        # 65535 -> 255, rounding to nearest (value / 257, as 255 * 257 = 65535). Mode "I" from a PNG holds
        # the same 0..65535 values.
        gray = np.asarray(im, dtype=np.float64)
        gray = np.rint(np.clip(gray, 0, 65535) / 257).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if im.mode in ("P", "PA"):
        # Through RGBA: the same palette colours, without Pillow's warning about palettes whose transparency
        # is given per entry.
        im = im.convert("RGBA")
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, LA, RGBA, CMYK, 1-bit...: alpha dropped, values kept
    return np.array(im, dtype=np.uint8)  # a writable copy (np.asarray would be a read-only view)
