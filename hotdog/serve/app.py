"""The web application: the page and its assets, the JSON API, every error as JSON.

  GET  /              the page (static/index.html)
  GET  /static/NAME   its style sheet, script and icon
  GET  /model         {"model": identity, "max_upload_bytes": N}      (identity: model.describe)
  POST /predict       the photo as multipart/form-data in the field "image" (curl -F image=@photo.jpg) ->
                      {"label": class, "probabilities": {class: p, ...}, "model": identity}

Errors are {"error": what went wrong and what to do, "reason": a short category} with a 4xx status:
  400 "no image"          not multipart/form-data, a form that cannot be read, or no file in "image"
  413 "upload too large"  the body is over the limit: refused from its Content-Length before reading
                          anything, or as soon as the bytes streamed so far pass it
  422 why decode_image refused the file: "empty file", "not an image", "truncated", "corrupt", "too large"
  404 "not found", 405 "method not allowed"
Nothing is written to disk: an upload is held in memory (never more than the limit) and decoded from bytes.
"""
import asyncio
import importlib.resources
import os

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..data.images import DEFAULT_MAX_PIXELS, UnreadableImage

FIELD = "image"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
# Every asset comes from this server (the page works offline); the photo preview is a blob: URL.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
# Uploads held in memory at once, at most the limit each; further requests wait with their bodies unread.
# The model answers one photo at a time anyway: this only keeps the next few ready.
UPLOADS_AT_ONCE = 4
# What the person at the page can do about each of decode_image's reasons (its own messages give advice
# for a file in a dataset folder: "remove it", "raise max_pixels").
UPLOAD_ADVICE = {
    "empty file": "the file is empty (0 bytes); choose the photo again",
    "not an image": "not an image this server can read; send a JPEG or PNG photo",
    "truncated": "the image data is cut off (an incomplete copy); send the whole file again",
    "corrupt": "the image data is damaged; send another copy, or another photo",
    "too large": "over {:,} pixels, refused before decoding (it could exhaust memory); send a smaller "
                 "photo".format(DEFAULT_MAX_PIXELS),
}
HOW_TO_SEND = 'send the photo as multipart/form-data in the field "image" (curl -F image=@photo.jpg URL/predict)'


class Refused(Exception):
    """A request the server answers with ``status`` and {"error": message, "reason": reason}."""

    def __init__(self, status, reason, message):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def load_assets():
    """{file name: (bytes, content type)} of static/, read from the installed package (a wheel, a zip),
    never from a path relative to the source tree."""
    folder = importlib.resources.files(__package__).joinpath("static")
    return {item.name: (item.read_bytes(), CONTENT_TYPES[os.path.splitext(item.name)[1]])
            for item in folder.iterdir() if item.is_file()}


def make_app(model, max_upload_bytes):
    """The application answering with ``model`` (a ServedModel), refusing bodies over ``max_upload_bytes``."""
    assets = load_assets()
    slots = asyncio.Semaphore(UPLOADS_AT_ONCE)

    def asset(name):
        if name not in assets:
            raise HTTPException(404)
        body, content_type = assets[name]
        return Response(body, media_type=content_type, headers=PAGE_HEADERS)

    async def page(request):
        return asset("index.html")

    async def static(request):
        return asset(request.path_params["name"])

    async def model_info(request):
        return JSONResponse({"model": model.identity, "max_upload_bytes": max_upload_bytes})

    async def predict(request):
        refuse_declared_too_large(request.headers, max_upload_bytes)
        async with slots:
            body = await read_capped(request, max_upload_bytes)
            data, name = await image_field(request.headers, body, max_upload_bytes)
            try:
                answer = await asyncio.wrap_future(model.predict(data, name))
            except UnreadableImage as exc:
                raise Refused(422, exc.reason, "{}: {}".format(name, UPLOAD_ADVICE[exc.reason])) from None
        return JSONResponse(answer)

    routes = [Route("/", page), Route("/static/{name}", static), Route("/model", model_info),
              Route("/predict", predict, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={Refused: refused, HTTPException: http_error})


def too_large(limit):
    return Refused(413, "upload too large", "the upload is over this server's limit of {:.1f} MB; send a smaller "
                   "photo, or start the server with a larger --max-upload-mb".format(limit / 2 ** 20))


def refuse_declared_too_large(headers, limit):
    """Refuse from the Content-Length header alone, before a byte of the body is read."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)


async def read_capped(request, limit):
    """The body, read until it passes ``limit`` (a chunked upload declares no length)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


async def image_field(headers, body, limit):
    """(the file's bytes, a name for messages) of the form field "image" in a multipart ``body``."""
    if not headers.get("content-type", "").startswith("multipart/form-data"):
        raise Refused(400, "no image", "no image in the request: " + HOW_TO_SEND)

    async def stream():
        yield body

    parser = MultiPartParser(headers, stream(), max_files=1, max_fields=10)
    parser.spool_max_size = limit  # the file part never rolls over into a temporary file on disk
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Refused(400, "no image", "cannot read the form ({}); {}".format(exc, HOW_TO_SEND)) from None
    try:
        upload = form.get(FIELD)
        if not isinstance(upload, UploadFile):
            raise Refused(400, "no image", "the form has no file in the field \"image\"; " + HOW_TO_SEND)
        return await upload.read(), display_name(upload.filename)
    finally:
        await form.close()


def display_name(filename):
    """How messages call an upload: its file name without any folder, shortened."""
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    return (name[:60] + "...") if len(name) > 60 else (name or "the upload")


async def refused(request, exc):
    # After a 413 the rest of the body is unread: the connection cannot carry another request.
    headers = {"Connection": "close"} if exc.status == 413 else None
    return JSONResponse({"error": exc.message, "reason": exc.reason}, status_code=exc.status, headers=headers)


async def http_error(request, exc):
    """The router's 404 and 405 in the same JSON shape as every other error (reason: "not found", "method
    not allowed")."""
    reason = exc.detail.lower()
    allowed = (exc.headers or {}).get("Allow")
    message = "{} {}: {}{}; the page is GET /, the API is POST /predict and GET /model".format(
        request.method, request.url.path, reason, " (allowed: {})".format(allowed) if allowed else "")
    return JSONResponse({"error": message, "reason": reason}, status_code=exc.status_code, headers=exc.headers)
