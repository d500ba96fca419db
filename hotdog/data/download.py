"""Getting ``hotdog.zip`` onto disk and extracted into ``DATA_DIR/hotdog``, safely.

Why not ``gluon.utils.download``: it has no timeout (a silent server hangs it forever), cannot resume,
and on a checksum mismatch retries and leaves the bad file in place. Here a download goes to
``NAME.part`` (resumed with an HTTP ``Range`` request when the server allows it), is checked against its
sha1, and only then renamed to its final name; a file that fails the check is deleted.
"""
import json
import logging
import os
import time

import requests
from tqdm import tqdm

from .._io import atomic_write_json, building, sha1_file, show_progress
from ..errors import HotdogError
from .extract import safe_extract
from .layout import CLASSES, default_data_dir, validate_layout

log = logging.getLogger(__name__)

# The Gluon dataset bucket the chapter (MXNet edition of D2L) downloads from.
DEFAULT_URL = "https://apache-mxnet.s3-accelerate.amazonaws.com/gluon/dataset/hotdog.zip"
DEFAULT_SHA1 = "fba480ffa8aa7e0febbb511d181409f899b9baa5"
# A mirror of hotdog.zip (a full URL); --url wins over it.
URL_ENV = "HOTDOG_DATA_URL"
DATASET_FOLDER = "hotdog"
# Written into DATA_DIR/hotdog after a verified extraction; makes a second `download` a no-op.
MARKER = ".hotdog-verified.json"

OFFLINE_HINT = ("Offline? Fetch hotdog.zip on another machine and run `hotdog download --zip FILE`, "
                "or point --url / ${} at a mirror.".format(URL_ENV))


class DownloadError(HotdogError):
    """The file could not be fetched (network, HTTP error)."""


class ChecksumError(HotdogError):
    """The file's sha1 is not the one expected."""


class _Transient(Exception):
    """A failure worth retrying (dropped connection, timeout, 5xx)."""


def resolve_url(url=None):
    """--url, else the mirror environment variable, else the chapter's URL."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def _describe_network_error(exc, timeout):
    text = str(exc)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection dropped during the download"
    if isinstance(exc, requests.Timeout):
        return "timed out after {}s".format(timeout)
    if "Name or service not known" in text or "NameResolution" in text or "getaddrinfo" in text:
        return "the host name could not be resolved (DNS)"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    return "connection failed ({})".format(type(exc).__name__)


def _stream_to_part(url, part, timeout, progress):
    """Append the rest of ``url`` to ``part``; raise _Transient on a retryable failure."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"Range": "bytes={}-".format(have)} if have else {}
    try:
        with requests.get(url, stream=True, timeout=timeout, headers=headers) as response:
            if response.status_code == 416 and have:
                # The server says there is nothing past `have`: the part is already whole (or stale,
                # which the checksum will catch).
                return
            if response.status_code >= 500:
                raise _Transient("HTTP {}".format(response.status_code))
            if response.status_code >= 400:
                raise DownloadError("could not download {}: HTTP {} {}. Check the URL. {}".format(
                    url, response.status_code, response.reason, OFFLINE_HINT))
            if response.status_code == 206:
                mode = "ab"
                log.info("resuming %s at byte %d", os.path.basename(part), have)
            else:  # 200: the server ignored the Range header; start over
                mode, have = "wb", 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            written = have
            with open(part, mode) as f, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                            unit_divisor=1024, desc=os.path.basename(url),
                                            disable=not progress) as bar:
                for block in response.iter_content(chunk_size=1 << 16):
                    f.write(block)
                    written += len(block)
                    bar.update(len(block))
            if total is not None and written < total:
                raise _Transient("connection closed after {} of {} bytes".format(written, total))
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
        raise _Transient(_describe_network_error(exc, timeout)) from exc


def fetch(url, dest, sha1=None, retries=3, timeout=30.0, backoff=1.0, quiet=False):
    """Download ``url`` to ``dest``, resuming and retrying; verify ``sha1`` before the final rename.

    On a checksum mismatch the downloaded bytes are deleted and ChecksumError is raised.
    Returns ``dest``.
    """
    part = dest + ".part"
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    for attempt in range(retries + 1):
        try:
            _stream_to_part(url, part, timeout, show_progress(quiet))
            break
        except _Transient as exc:
            if attempt == retries:
                raise DownloadError("could not download {}: {} (after {} attempts). {}".format(
                    url, exc, retries + 1, OFFLINE_HINT)) from None
            wait = backoff * 2 ** attempt
            log.warning("download failed (%s); retrying in %.0fs", exc, wait)
            time.sleep(wait)
    if sha1:
        actual = sha1_file(part)
        if actual != sha1:
            os.remove(part)
            raise ChecksumError(
                "checksum mismatch for {}: expected sha1 {}, got {}. The download was deleted and nothing "
                "was extracted. Run the command again; if it keeps failing, the server or mirror serves a "
                "different file: check --url / ${}, or pass --sha1 for an archive you trust.".format(
                    url, sha1, actual, URL_ENV))
    os.replace(part, dest)
    return dest


def _read_marker(folder):
    try:
        with open(os.path.join(folder, MARKER)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def extract_dataset(zip_path, data_dir, sha1, force=False):
    """Extract a verified zip into ``DATA_DIR/hotdog`` through a temporary folder, then rename.

    Nothing appears under the final name unless the whole archive extracted and its layout is valid.
    """
    final = os.path.join(data_dir, DATASET_FOLDER)
    if os.path.exists(final) and not force:
        raise HotdogError(
            "{} already exists but was not verified by `hotdog download` (or for another sha1). It is usable "
            "as is for training (--data-dir {}); to replace it with the archive, pass --force.".format(
                final, data_dir))
    with building(final, replace=True) as build:
        safe_extract(zip_path, build.path)
        build.result = os.path.join(build.path, DATASET_FOLDER)
        if not os.path.isdir(build.result):
            found = sorted(os.listdir(build.path))[:5]
            raise HotdogError("{} has no top-level '{}/' folder (it holds: {}). Is it the hotdog archive?".format(
                zip_path, DATASET_FOLDER, ", ".join(found) or "nothing"))
        counts = validate_layout(build.result, classes=CLASSES)  # the chapter's archive: exactly these two
        atomic_write_json(os.path.join(build.result, MARKER), {"sha1": sha1, "counts": counts})
    return counts


def download_hotdog(data_dir=None, url=None, sha1=DEFAULT_SHA1, zip_file=None, force=False,
                    retries=3, timeout=30.0, backoff=1.0, quiet=False):
    """Make ``DATA_DIR/hotdog`` hold the verified, extracted dataset; return its folder.

    ``zip_file``: use an archive already on disk instead of the network (it is never deleted).
    ``data_dir``: default ``layout.default_data_dir()``.
    """
    data_dir = data_dir or default_data_dir()
    final = os.path.join(data_dir, DATASET_FOLDER)
    marker = _read_marker(final)
    if marker and marker.get("sha1") == sha1 and not force:
        log.info("%s is already extracted and verified (sha1 %s); nothing to do.", final, sha1)
        return final
    if marker:  # verified before, but for another archive (or --force): ours to replace
        force = True
    os.makedirs(data_dir, exist_ok=True)

    if zip_file:
        if not os.path.isfile(zip_file):
            raise HotdogError("--zip {}: no such file".format(zip_file))
        actual = sha1_file(zip_file)
        if actual != sha1:
            raise ChecksumError(
                "checksum mismatch for {}: expected sha1 {}, got {}. Nothing was extracted and your file "
                "was left where it is. Fetch it again, or pass --sha1 {} if you trust this archive.".format(
                    zip_file, sha1, actual, actual))
        archive = zip_file
    else:
        url = resolve_url(url)
        archive = os.path.join(data_dir, os.path.basename(url.split("?")[0]) or "hotdog.zip")
        if os.path.exists(archive) and sha1_file(archive) == sha1:
            log.info("using %s (sha1 verified)", archive)
        else:
            if os.path.exists(archive):
                log.warning("%s does not match sha1 %s; downloading it again", archive, sha1)
                os.remove(archive)
            log.info("downloading %s", url)
            fetch(url, archive, sha1=sha1, retries=retries, timeout=timeout, backoff=backoff, quiet=quiet)
    counts = extract_dataset(archive, data_dir, sha1, force=force)
    summary = ", ".join("{} {}".format(split, sum(c.values())) for split, c in counts.items())
    log.info("extracted to %s (%s images)", final, summary)
    return final
