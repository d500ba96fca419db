"""Safe extraction and layout validation."""
import os
import stat
import zipfile

import pytest

from hotdog._io import sha1_file
from hotdog.data.download import download_hotdog
from hotdog.data.extract import BrokenArchiveError, UnsafeArchiveError, safe_extract
from hotdog.data.layout import LayoutError, validate_layout
from hotdog.errors import HotdogError


def _zip_with(path, entries):
    """entries: list of (name, bytes) or (name, bytes, 'symlink')."""
    with zipfile.ZipFile(path, "w") as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry[0])
            if len(entry) == 3:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, entry[1])
    return str(path)


@pytest.mark.parametrize("evil", [
    ("hotdog/../../escaped.txt", b"x"),
    ("/tmp/hotdog-absolute-escape.txt", b"x"),
    ("hotdog/link", b"../../escaped.txt", "symlink"),
    ("..\\escaped.txt", b"x"),
])
def test_unsafe_entries_are_refused_and_nothing_is_written(tmp_path, evil):
    archive = _zip_with(tmp_path / "evil.zip", [("hotdog/train/hotdog/0.png", b"fine"), evil])
    target = tmp_path / "out" / "target"
    target.mkdir(parents=True)
    before = set(os.listdir(tmp_path))
    with pytest.raises(UnsafeArchiveError, match="refusing archive entry"):
        safe_extract(archive, str(target))
    assert os.listdir(target) == []  # checked before anything is written
    assert set(os.listdir(tmp_path)) == before
    assert not os.path.exists("/tmp/hotdog-absolute-escape.txt")


def test_unsafe_zip_through_download_leaves_no_dataset(tmp_path):
    archive = _zip_with(tmp_path / "evil.zip", [("hotdog/../../escaped.txt", b"x")])
    data_dir = tmp_path / "data"
    with pytest.raises(UnsafeArchiveError):
        download_hotdog(data_dir=str(data_dir), zip_file=archive, sha1=sha1_file(archive), quiet=True)
    assert os.listdir(data_dir) == []
    assert not os.path.exists(tmp_path / "escaped.txt")


def test_truncated_zip_gives_a_clear_error(synthetic_zip, tmp_path):
    _, _, body = synthetic_zip
    truncated = tmp_path / "hotdog.zip"
    truncated.write_bytes(body[: len(body) // 2])
    with pytest.raises(BrokenArchiveError, match="truncated or corrupt"):
        download_hotdog(data_dir=str(tmp_path / "data"), zip_file=str(truncated),
                        sha1=sha1_file(str(truncated)), quiet=True)
    assert os.listdir(tmp_path / "data") == []


def test_corrupt_member_fails_the_crc_check(synthetic_zip, tmp_path):
    _, _, body = synthetic_zip
    corrupt = bytearray(body)
    corrupt[200] ^= 0xFF  # inside the first file's data
    path = tmp_path / "corrupt.zip"
    path.write_bytes(bytes(corrupt))
    with pytest.raises(BrokenArchiveError):
        safe_extract(str(path), str(tmp_path / "out"))


def test_archive_without_hotdog_folder(tmp_path):
    archive = _zip_with(tmp_path / "other.zip", [("cats/1.png", b"x")])
    with pytest.raises(HotdogError, match="no top-level 'hotdog/' folder"):
        download_hotdog(data_dir=str(tmp_path / "data"), zip_file=archive, sha1=sha1_file(archive), quiet=True)


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def test_layout_counts_only_images(tmp_path):
    for split in ("train", "test"):
        for cls in ("hotdog", "not-hotdog"):
            _touch(str(tmp_path / split / cls / "0.png"))
            _touch(str(tmp_path / split / cls / "1.JPG"))
            _touch(str(tmp_path / split / cls / "notes.txt"))
    assert validate_layout(str(tmp_path)) == {"train": {"hotdog": 2, "not-hotdog": 2},
                                             "test": {"hotdog": 2, "not-hotdog": 2}}


def test_layout_errors_are_named(tmp_path):
    _touch(str(tmp_path / "train" / "hotdog" / "0.png"))
    _touch(str(tmp_path / "train" / "not-hotdog" / "readme.txt"))
    _touch(str(tmp_path / "train" / "cat" / "0.png"))
    with pytest.raises(LayoutError) as info:
        validate_layout(str(tmp_path), classes=("hotdog", "not-hotdog"))  # what the chapter's archive must hold
    message = str(info.value)
    assert "missing folder test/" in message
    assert "train/not-hotdog/ has no image files" in message
    assert "unexpected class folder(s) in train/: cat" in message
    assert "train/hotdog" not in message


def test_discovered_classes_must_match_across_splits(tmp_path):
    for cls in ("cat", "dog", "fish"):
        _touch(str(tmp_path / "train" / cls / "0.png"))
    for cls in ("cat", "dog"):
        _touch(str(tmp_path / "test" / cls / "0.png"))
    with pytest.raises(LayoutError, match="missing folder test/fish/"):
        validate_layout(str(tmp_path))
    _touch(str(tmp_path / "test" / "fish" / "1.jpg"))
    assert validate_layout(str(tmp_path))["test"] == {"cat": 1, "dog": 1, "fish": 1}
    (tmp_path / "lonely" / "train" / "only").mkdir(parents=True)
    with pytest.raises(LayoutError, match="at least two class folders"):
        validate_layout(str(tmp_path / "lonely"))
