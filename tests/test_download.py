"""hotdog download against a real HTTP server on 127.0.0.1."""
import json
import os
import socket

import pytest

from hotdog import cli
from hotdog._io import sha1_file
from hotdog.data.download import (
    MARKER,
    URL_ENV,
    ChecksumError,
    DownloadError,
    download_hotdog,
    fetch,
)
from hotdog.errors import HotdogError

WRONG_SHA1 = "0" * 40


def _assert_extracted(data_dir, zip_sha1):
    root = os.path.join(data_dir, "hotdog")
    for split, n in (("train", 6), ("test", 3)):
        for cls in ("hotdog", "not-hotdog"):
            assert len(os.listdir(os.path.join(root, split, cls))) == n
    with open(os.path.join(root, MARKER)) as f:
        assert json.load(f)["sha1"] == zip_sha1


def test_cli_download_extracts_a_served_zip(http_server, synthetic_zip, tmp_path, capsys):
    _, sha1, body = synthetic_zip
    http_server.files["/hotdog.zip"] = body
    data_dir = str(tmp_path / "d")
    code = cli.main(["download", "--url", http_server.url("/hotdog.zip"), "--sha1", sha1, "--data-dir", data_dir])
    assert code == 0
    _assert_extracted(data_dir, sha1)
    assert sha1_file(os.path.join(data_dir, "hotdog.zip")) == sha1
    leftovers = [n for n in os.listdir(data_dir) if n not in ("hotdog", "hotdog.zip")]
    assert leftovers == []  # no .part file, no staging folder
    # Not a terminal: no progress bar in the captured output.
    assert "%|" not in capsys.readouterr().err


def test_second_run_is_a_noop(http_server, synthetic_zip, tmp_path, capsys):
    _, sha1, body = synthetic_zip
    http_server.files["/hotdog.zip"] = body
    args = ["download", "--url", http_server.url("/hotdog.zip"), "--sha1", sha1, "--data-dir", str(tmp_path)]
    assert cli.main(args) == 0
    n_requests = len(http_server.requests)
    capsys.readouterr()
    assert cli.main(args) == 0
    assert len(http_server.requests) == n_requests
    assert "nothing to do" in capsys.readouterr().out


def test_checksum_mismatch_deletes_and_extracts_nothing(http_server, synthetic_zip, tmp_path, capsys):
    _, sha1, body = synthetic_zip
    http_server.files["/hotdog.zip"] = body
    data_dir = str(tmp_path / "d")
    code = cli.main(["download", "--url", http_server.url("/hotdog.zip"), "--sha1", WRONG_SHA1,
                     "--data-dir", data_dir])
    assert code != 0
    err = capsys.readouterr().err
    assert WRONG_SHA1 in err and sha1 in err
    assert "Traceback" not in err
    assert os.listdir(data_dir) == []  # neither the zip, nor a .part, nor an extracted folder


def test_http_404_is_one_clear_line(http_server, tmp_path, capsys):
    code = cli.main(["download", "--url", http_server.url("/missing.zip"), "--data-dir", str(tmp_path),
                     "--retries", "0"])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert "404" in err and "--zip" in err
    assert len(err.splitlines()) == 1
    assert len(http_server.requests) == 1  # a 404 is not retried


def test_refused_connection_is_retried_then_reported(free_port, tmp_path):
    with pytest.raises(DownloadError) as info:
        fetch("http://127.0.0.1:{}/hotdog.zip".format(free_port), str(tmp_path / "hotdog.zip"),
              retries=2, backoff=0)
    message = str(info.value)
    assert "connection refused" in message and "3 attempts" in message and "--zip" in message


def test_silent_server_times_out(tmp_path):
    # Accepts connections (the kernel's backlog) but never answers: gluon's download would hang here.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        url = "http://127.0.0.1:{}/hotdog.zip".format(listener.getsockname()[1])
        with pytest.raises(DownloadError, match="timed out"):
            fetch(url, str(tmp_path / "hotdog.zip"), retries=0, timeout=0.5)


def test_dropped_download_resumes_with_range(http_server, synthetic_zip, tmp_path):
    _, sha1, body = synthetic_zip
    http_server.files["/hotdog.zip"] = body
    http_server.drop_after = len(body) // 3
    dest = str(tmp_path / "hotdog.zip")
    fetch(http_server.url("/hotdog.zip"), dest, sha1=sha1, retries=2, backoff=0)
    assert sha1_file(dest) == sha1
    ranges = [r for _, r in http_server.requests]
    assert ranges[0] is None and len(ranges) == 2
    # The second request asks for the rest of what reached the disk (whole chunks, up to the cut).
    resumed_at = int(ranges[1][len("bytes="):-1])
    assert 0 < resumed_at <= len(body) // 3


def test_partial_file_from_an_earlier_run_is_resumed(http_server, synthetic_zip, tmp_path):
    _, sha1, body = synthetic_zip
    http_server.files["/hotdog.zip"] = body
    dest = str(tmp_path / "hotdog.zip")
    with open(dest + ".part", "wb") as f:
        f.write(body[:1000])
    fetch(http_server.url("/hotdog.zip"), dest, sha1=sha1, retries=0)
    assert http_server.requests == [("/hotdog.zip", "bytes=1000-")]
    assert sha1_file(dest) == sha1 and not os.path.exists(dest + ".part")


def test_server_without_range_support_restarts_cleanly(http_server, synthetic_zip, tmp_path):
    _, sha1, body = synthetic_zip
    http_server.files["/hotdog.zip"] = body
    http_server.ranges = False
    dest = str(tmp_path / "hotdog.zip")
    with open(dest + ".part", "wb") as f:
        f.write(b"stale bytes")
    fetch(http_server.url("/hotdog.zip"), dest, sha1=sha1, retries=0)
    assert sha1_file(dest) == sha1


def test_mirror_environment_variable(http_server, synthetic_zip, tmp_path, monkeypatch):
    _, sha1, body = synthetic_zip
    http_server.files["/mirror/hotdog.zip"] = body
    monkeypatch.setenv(URL_ENV, http_server.url("/mirror/hotdog.zip"))
    download_hotdog(data_dir=str(tmp_path), sha1=sha1, quiet=True)
    _assert_extracted(str(tmp_path), sha1)
    assert http_server.requests[0][0] == "/mirror/hotdog.zip"


def test_local_zip(synthetic_zip, tmp_path):
    zip_path, sha1, _ = synthetic_zip
    assert cli.main(["download", "--zip", zip_path, "--sha1", sha1, "--data-dir", str(tmp_path), "-q"]) == 0
    _assert_extracted(str(tmp_path), sha1)


def test_local_zip_with_wrong_sha1_is_kept_and_not_extracted(synthetic_zip, tmp_path):
    zip_path, sha1, _ = synthetic_zip
    with pytest.raises(ChecksumError) as info:
        download_hotdog(data_dir=str(tmp_path), zip_file=zip_path, sha1=WRONG_SHA1, quiet=True)
    assert sha1 in str(info.value) and WRONG_SHA1 in str(info.value)
    assert os.path.exists(zip_path)  # the user's own file is never deleted
    assert not os.path.exists(tmp_path / "hotdog")


def test_unverified_existing_folder_is_not_overwritten(synthetic_zip, tmp_path):
    zip_path, sha1, _ = synthetic_zip
    mine = tmp_path / "hotdog" / "mine.txt"
    mine.parent.mkdir()
    mine.write_text("keep me")
    with pytest.raises(HotdogError, match="--force"):
        download_hotdog(data_dir=str(tmp_path), zip_file=zip_path, sha1=sha1, quiet=True)
    assert mine.read_text() == "keep me"
    download_hotdog(data_dir=str(tmp_path), zip_file=zip_path, sha1=sha1, quiet=True, force=True)
    _assert_extracted(str(tmp_path), sha1)


def test_corrupt_cached_zip_is_fetched_again(http_server, synthetic_zip, tmp_path):
    _, sha1, body = synthetic_zip
    http_server.files["/hotdog.zip"] = body
    (tmp_path / "hotdog.zip").write_bytes(body[:100])
    download_hotdog(data_dir=str(tmp_path), url=http_server.url("/hotdog.zip"), sha1=sha1, quiet=True)
    _assert_extracted(str(tmp_path), sha1)


def test_404_leaves_no_file(http_server, tmp_path):
    with pytest.raises(DownloadError):
        fetch(http_server.url("/nope.zip"), str(tmp_path / "x.zip"), retries=0)
    assert os.listdir(tmp_path) == []
