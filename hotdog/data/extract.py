"""Safe zip extraction: every entry is checked before anything is written.

Refused: absolute paths, drive letters, ``..`` components and symbolic links (the "zip slip" family).
A truncated or corrupt archive raises a clear error instead of a half-written folder.
"""
import os
import stat
import zipfile

from ..errors import HotdogError


class UnsafeArchiveError(HotdogError):
    """An entry would land outside the target folder, or is a link."""


class BrokenArchiveError(HotdogError):
    """The archive cannot be read (truncated, corrupt, not a zip)."""


def _is_symlink(info):
    return stat.S_ISLNK(info.external_attr >> 16)


def check_member(info, target_dir):
    """Raise UnsafeArchiveError if ``info`` could write outside ``target_dir``."""
    name = info.filename
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise UnsafeArchiveError("refusing archive entry {!r}: absolute path".format(name))
    if ".." in unified.split("/"):
        raise UnsafeArchiveError("refusing archive entry {!r}: '..' path component".format(name))
    if _is_symlink(info):
        raise UnsafeArchiveError("refusing archive entry {!r}: symbolic link".format(name))
    root = os.path.realpath(target_dir)
    dest = os.path.realpath(os.path.join(root, unified))
    if os.path.commonpath([root, dest]) != root:
        raise UnsafeArchiveError("refusing archive entry {!r}: it resolves outside {}".format(name, target_dir))


def safe_extract(zip_path, target_dir):
    """Extract ``zip_path`` into ``target_dir`` after checking every entry and every CRC."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.infolist()
            for info in members:
                check_member(info, target_dir)
            bad = zf.testzip()
            if bad is not None:
                raise BrokenArchiveError("{} is corrupt: entry {!r} fails its CRC check. Download it again."
                                         .format(zip_path, bad))
            zf.extractall(target_dir, members)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise BrokenArchiveError("{} is not a readable zip archive ({}); it is probably truncated or corrupt. "
                                 "Delete it and download it again.".format(zip_path, exc)) from None
