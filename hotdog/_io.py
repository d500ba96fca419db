"""File plumbing shared by every job: atomic writes, build-then-rename folders, sha1, progress bars.

Everything the package writes goes through here, so that a crash (or a full disk) at any moment leaves
the previous file or the new one under the final name, never a half-written file.
"""
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile

from .errors import HotdogError


def _temporary_name(path):
    root, ext = os.path.splitext(path)
    return "{}.tmp-{}{}".format(root, os.getpid(), ext)


def atomic_write_bytes(path, data):
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    atomic_save(lambda tmp: _write_synced(tmp, data), path)


def _write_synced(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def atomic_save(save_fn, path):
    """Call ``save_fn(tmp_path)`` (e.g. ``net.save_parameters``), then rename the result to ``path``.

    The temporary name keeps the extension, because some savers (matplotlib) choose a format by it.
    """
    tmp = _temporary_name(path)
    try:
        save_fn(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class _Build:
    def __init__(self, staging):
        self.path = staging   # build here
        self.result = staging  # what gets the final name (a subfolder of ``path``, if the build says so)


@contextlib.contextmanager
def building(folder, replace=False):
    """Build a folder under a temporary name beside ``folder``; it gets its final name only on success.

    Yields a build with ``.path``, the temporary folder to fill. Set ``.result`` to a subfolder of it when
    that is what should become ``folder`` (an archive that holds one top folder). If ``folder`` exists by
    then, ``replace=True`` moves it aside and removes it only once the new one is in place; otherwise the
    existing one is kept and ours is discarded (another process built the same thing: both are complete,
    and a reader may be using the first).
    """
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    build = _Build(tempfile.mkdtemp(prefix=".building-", dir=parent))
    # mkdtemp makes it private (0700); the finished folder should get the permissions any new folder gets.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(build.path, 0o777 & ~umask)
    try:
        yield build
        old = None
        if os.path.exists(folder) and replace:
            old = tempfile.mkdtemp(prefix=".replaced-", dir=parent)
            os.rename(folder, os.path.join(old, "folder"))
        if not os.path.exists(folder):
            try:
                os.rename(build.result, folder)
            except OSError:
                if old:  # put the previous folder back: never leave nothing where something was
                    os.rename(os.path.join(old, "folder"), folder)
                raise
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(build.path, ignore_errors=True)


def sha1_file(path, chunk_size=1 << 20):
    digest = hashlib.sha1()
    update_sha1(digest, path, chunk_size)
    return digest.hexdigest()


def update_sha1(digest, path, chunk_size=1 << 20):
    """Feed the bytes of ``path`` into ``digest`` without reading the whole file into memory."""
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)


def read_json(path, what="file"):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise HotdogError("{} not found: {}".format(what, path)) from None
    except ValueError as exc:
        raise HotdogError("{} {} is not valid JSON ({})".format(what, path, exc)) from None


def show_progress(quiet=False):
    """Progress bars on a terminal only: quiet in a pipe, in CI logs, or with --quiet."""
    return not quiet and sys.stderr.isatty()
