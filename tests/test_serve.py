"""hotdog serve: the page and every asset it links, POST /predict answering a real photo as `hotdog predict`
does, every bad input refused with its reason while the server keeps serving, concurrent requests, a real
browser, and a clean stop that leaves no file behind.

The server runs as `hotdog serve --port 0` in a subprocess on loopback, started once for the module.
"""
import asyncio
import concurrent.futures
import http.client
import importlib.util
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from html.parser import HTMLParser

import matplotlib.cbook
import mxnet as mx
import pytest
from PIL import Image

from hotdog import cli
from hotdog.data.synthetic import make_source_folder
from hotdog.evaluate.inference import predict_images

PHOTO = str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))  # a real JPEG photo
LIMIT_MB = 1  # the test server's --max-upload-mb
TOLERANCE = 1e-5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ("donut", "hotdog", "pizza")  # three: the page and the JSON work for any number of classes


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """A small folder of one's own: {train,test}/{donut,hotdog,pizza}/ of synthetic drawings."""
    root = str(tmp_path_factory.mktemp("three-classes"))
    make_source_folder(root, n_train=8, n_test=2, seed=3, kinds=CLASSES, size_range=(64, 128))
    return root


@pytest.fixture(scope="module")
def run_dir(image_folder, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("serve-run") / "tiny-scratch")
    # lr 0.01 (not scratch's 0.1) leaves the probabilities well inside (0, 1) after one epoch, so that comparing
    # them to 1e-5 means something.
    assert cli.main(["train", "--strategy", "scratch", "--data-dir", image_folder, "--image-size", "32", "--epochs",
                     "1", "--batch-size", "8", "--lr", "0.01", "--out", out, "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def images(image_folder):
    """Two images whose answers differ: the real photo and a synthetic test image."""
    return [PHOTO, os.path.join(image_folder, "test", "hotdog", "1000.png")]


@pytest.fixture(scope="module")
def expected(run_dir, images):
    """{path: predict's answer} for the two images: what the server must say."""
    answers = {r["path"]: r for r in predict_images(images, run_dir, [mx.cpu()])}
    first, second = (answers[path]["probabilities"] for path in images)
    assert all(0.01 < p < 0.99 for p in first.values()), first
    assert max(abs(first[cls] - second[cls]) for cls in CLASSES) > 0.01, (first, second)
    return answers


class Server:
    """The `hotdog serve` subprocess: its port, its stdout lines (read by a thread), its folders."""

    def __init__(self, process, port, lines, reader, workdir, tmpdir):
        self.process, self.port, self.lines, self.reader = process, port, lines, reader
        self.workdir, self.tmpdir = workdir, tmpdir
        self.url = "http://127.0.0.1:{}/".format(port)

    def stdout_so_far(self):
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get())
        return "".join(lines)


# The serve extra's libraries (and selenium) need Python 3.11: below that, no install brings them.
SERVE_EXTRA_MISSING = ("the serve extra is not installed: pip install 'hotdog-finetune[serve]'"
                       if sys.version_info >= (3, 11) else "the serve extra needs Python 3.11 or newer")


@pytest.fixture(scope="module")
def server(run_dir, tmp_path_factory):
    pytest.importorskip("starlette", reason=SERVE_EXTRA_MISSING)
    # An empty working folder and TMPDIR: afterwards, both must still be empty.
    workdir, tmpdir = tmp_path_factory.mktemp("serve-cwd"), tmp_path_factory.mktemp("serve-tmp")
    stderr_path = tmp_path_factory.mktemp("serve-log") / "stderr.txt"
    with open(str(stderr_path), "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "hotdog", "serve", "--model-dir", run_dir, "--port", "0",
             "--max-upload-mb", str(LIMIT_MB)], cwd=str(workdir), stdout=subprocess.PIPE, stderr=stderr, text=True,
            env=dict(os.environ, TMPDIR=str(tmpdir), PYTHONPATH=ROOT))
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    try:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            line = ""
        match = re.search(r" at http://127\.0\.0\.1:(\d+)/ ", line)
        assert match, "no URL announced: {!r}; stderr: {}".format(line, stderr_path.read_text()[-2000:])
        yield Server(process, int(match.group(1)), lines, reader, workdir, tmpdir)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def request(server, method, path, body=None, headers=None):
    """(status, headers, body bytes) of one request on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


BOUNDARY = "hotdog-test-boundary-7f3a9c1e5b2d"
MULTIPART = {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY}


def form(data, field="image", filename="photo.jpg"):
    """A multipart/form-data body with one file."""
    return (("--{}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: "
             "application/octet-stream\r\n\r\n").format(BOUNDARY, field, filename).encode() + data
            + "\r\n--{}--\r\n".format(BOUNDARY).encode())


def predict(server, data, **kwargs):
    status, _, body = request(server, "POST", "/predict", form(data, **kwargs), MULTIPART)
    return status, json.loads(body)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def assert_same_answer(answer, expected):
    assert answer["label"] == expected["label"]
    assert answer["probabilities"].keys() == expected["probabilities"].keys()
    for cls, p in expected["probabilities"].items():
        assert abs(answer["probabilities"][cls] - p) <= TOLERANCE, (cls, answer["probabilities"][cls], p)


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.inputs = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[key] for key in ("src", "href") if attrs.get(key)]
        if tag == "input":
            self.inputs.append(attrs)


def test_the_page_and_every_asset_it_links_load_from_the_server(server):
    status, headers, page = request(server, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    parsed = Links()
    parsed.feed(page.decode("utf-8"))
    assert {"id": "image", "type": "file", "accept": "image/*", "capture": "environment"} in parsed.inputs
    assert b'id="explanation"' in page  # where the Grad-CAM overlay is shown
    types = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
    assert sorted(os.path.splitext(link)[1] for link in parsed.links) == [".css", ".js", ".svg"]
    for link in parsed.links:
        assert link.startswith("/") and not link.startswith("//"), link  # served here: works offline
        status, headers, body = request(server, "GET", link)
        assert status == 200 and headers["content-type"].startswith(types[os.path.splitext(link)[1]]), link
        # No CDN, no external font or script (an SVG's namespace is a name, not a download).
        assert b"://" not in body.replace(b'xmlns="http://www.w3.org/2000/svg"', b""), link
    assert b"://" not in page


def test_model_tells_what_answers(server):
    status, _, body = request(server, "GET", "/model")
    info = json.loads(body)
    assert status == 200 and info["max_upload_bytes"] == LIMIT_MB * 2 ** 20
    assert info["model"] == {"run": "tiny-scratch", "strategy": "scratch", "backbone": "resnet18_v2",
                             "classes": list(CLASSES), "image_size": 32, "synthetic_data": False,
                             "hotdog_version": info["model"]["hotdog_version"]}


def test_a_run_trained_on_the_demos_data_says_so(tmp_path):
    from hotdog.experiments.demo import SMOKE_SETTINGS, DemoSettings, target_dir
    from hotdog.serve.model import describe
    demo_data = target_dir(DemoSettings(**SMOKE_SETTINGS), root=str(tmp_path))  # where the demo trains
    config = {"strategy": "finetune", "model": "resnet18_v2", "classes": ["hotdog", "not-hotdog"], "image_size": 32}
    assert describe(dict(config, data_dir=demo_data), "runs/demo/finetune")["synthetic_data"] is True
    assert describe(dict(config, data_dir=str(tmp_path)), "runs/demo/finetune")["synthetic_data"] is False


def test_a_real_photo_gets_the_answer_hotdog_predict_gives(server, run_dir, expected, capsys):
    status, answer = predict(server, read(PHOTO))
    assert status == 200
    assert_same_answer(answer, expected[PHOTO])
    assert answer["model"]["run"] == "tiny-scratch"
    # The Grad-CAM overlay, on the crop the net saw (the run's image size), inline: nothing to fetch or save.
    assert answer["explanation"].startswith("data:image/png;base64,")
    import base64
    import io
    with Image.open(io.BytesIO(base64.b64decode(answer["explanation"].split(",", 1)[1]))) as shown:
        assert shown.size == (32, 32) and shown.mode == "RGB"
    capsys.readouterr()
    assert cli.main(["predict", PHOTO, "--model-dir", run_dir]) == 0
    _, label, probability = capsys.readouterr().out.strip().split("\t")
    assert label == answer["label"] and abs(float(probability) - answer["probabilities"][label]) < 5e-5


def bomb():
    """A 1 KB PNG whose header claims 30000 x 30000 pixels (900 MP): a decompression bomb."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def raw_exchange(server, data):
    """(status, JSON) of bytes sent as they are on one connection: requests http.client would not send."""
    def receive():
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection without an answer"
        return chunk

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += receive()
        head, _, body = answer.partition(b"\r\n\r\n")
        while len(body) < int(re.search(rb"content-length: (\d+)", head, re.I).group(1)):
            body += receive()
    return int(head.split()[1]), json.loads(body)


def declared_too_large(server):
    # Only the headers: an answer proves the server refused without waiting for the body.
    return raw_exchange(server, "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {}\r\nContent-Length: {}"
                        "\r\n\r\n".format(MULTIPART["Content-Type"], 50 * 2 ** 20).encode())


def streamed_too_large(server):
    # Chunked: no length declared, so the server must count the bytes as they come.
    data = form(os.urandom(LIMIT_MB * 2 ** 20 + 65536))
    return raw_exchange(server, "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {}\r\nTransfer-Encoding: "
                        "chunked\r\n\r\n".format(MULTIPART["Content-Type"]).encode()
                        + b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n")


def answer_of(server, method, path, body=None, headers=None):
    status, _, data = request(server, method, path, body, headers)
    return status, json.loads(data)


PHOTO_BYTES = read(PHOTO)
BAD_INPUTS = {
    "not an image": (lambda s: predict(s, b"a note saved as .jpg, not a photo\n"), 422, "not an image"),
    "truncated image": (lambda s: predict(s, PHOTO_BYTES[:len(PHOTO_BYTES) // 3]), 422, "truncated"),
    "empty upload": (lambda s: predict(s, b""), 422, "empty file"),
    "decompression bomb": (lambda s: predict(s, bomb(), filename="bomb.png"), 422, "too large"),
    "no file field": (lambda s: predict(s, PHOTO_BYTES, field="photo"), 400, "no image"),
    "empty form": (lambda s: answer_of(s, "POST", "/predict", b"", MULTIPART), 400, "no image"),
    "not a form": (lambda s: answer_of(s, "POST", "/predict", PHOTO_BYTES, {"Content-Type": "image/jpeg"}),
                   400, "no image"),
    "declared over the limit": (declared_too_large, 413, "upload too large"),
    "streamed over the limit": (streamed_too_large, 413, "upload too large"),
    "GET /predict": (lambda s: answer_of(s, "GET", "/predict"), 405, "method not allowed"),
    "POST /": (lambda s: answer_of(s, "POST", "/", PHOTO_BYTES), 405, "method not allowed"),
    "unknown route": (lambda s: answer_of(s, "GET", "/admin"), 404, "not found"),
    "unknown asset": (lambda s: answer_of(s, "GET", "/static/missing.js"), 404, "not found"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_with_its_reason_and_the_next_photo_is_answered(server, expected, case):
    send, status, reason = BAD_INPUTS[case]
    got_status, answer = send(server)
    assert (got_status, answer["reason"]) == (status, reason), answer
    assert isinstance(answer["error"], str) and len(answer["error"]) > 20 and "\n" not in answer["error"]
    status, answer = predict(server, PHOTO_BYTES)
    assert status == 200
    assert_same_answer(answer, expected[PHOTO])


def test_an_upload_is_held_in_memory_never_in_a_temporary_file(monkeypatch):
    pytest.importorskip("starlette", reason=SERVE_EXTRA_MISSING)
    from starlette.datastructures import Headers

    from hotdog.serve.app import image_field

    def no_files(*args, **kwargs):
        raise AssertionError("the upload went to a temporary file")

    # Starlette's parser spools a file part over 1 MB to tempfile.TemporaryFile unless told otherwise.
    monkeypatch.setattr(tempfile, "TemporaryFile", no_files)
    data = os.urandom(3 * 2 ** 20)
    assert asyncio.run(image_field(Headers(MULTIPART), form(data), 4 * 2 ** 20)) == (data, "photo.jpg")


def test_50_concurrent_requests_each_get_their_own_answer(server, images, expected):
    # Two different images interleaved: an answer given to the wrong request, or a forward pass disturbed by
    # another, would show as wrong probabilities.
    order = [images[i % 2] for i in range(50)]
    payloads = {path: read(path) for path in images}
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(predict, server, payloads[path], filename=os.path.basename(path)) for path in order]
        answers = [future.result(timeout=60) for future in futures]
    for path, (status, answer) in zip(order, answers):
        assert status == 200
        assert_same_answer(answer, expected[path])


def browser_missing():
    """Why the browser check cannot run here, or None."""
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(path):
            return "{} is missing (apt-get install chromium chromium-driver)".format(path)
    if importlib.util.find_spec("selenium") is None:
        return ("selenium is missing (the test extra: pip install -e '.[test]')" if sys.version_info >= (3, 11)
                else "selenium is in the test extra from Python 3.11 on")
    return None


@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_in_a_browser_a_chosen_photo_gets_its_label(server, expected, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--user-data-dir=" + str(tmp_path / "profile")):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        # A phone's screen (a window cannot be narrower than 500 px, an emulated screen can).
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
        wait = WebDriverWait(driver, 30)
        driver.get(server.url)
        wait.until(lambda d: "resnet18_v2" in d.find_element(By.ID, "model").text)

        note = tmp_path / "note.jpg"
        note.write_text("not a photo")
        driver.find_element(By.ID, "image").send_keys(str(note))
        error = driver.find_element(By.ID, "error")
        wait.until(lambda d: error.is_displayed())
        assert "not an image" in error.text

        driver.find_element(By.ID, "image").send_keys(PHOTO)
        wait.until(lambda d: d.find_element(By.ID, "label").text)
        assert driver.find_element(By.ID, "label").text == expected[PHOTO]["label"]
        assert not error.is_displayed()
        bars = driver.find_elements(By.CSS_SELECTOR, "#bars li")
        assert [b.find_element(By.CLASS_NAME, "bar-name").text for b in bars][0] == expected[PHOTO]["label"]
        assert len(bars) == len(expected[PHOTO]["probabilities"])
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        overlay = driver.find_element(By.ID, "explanation-image")  # the Grad-CAM picture is shown, and loaded
        assert overlay.is_displayed() and driver.execute_script("return arguments[0].naturalWidth", overlay) == 32

        # The whole page in the picture, then fewer colours so that the README's copy stays small.
        height = driver.execute_script("return Math.ceil(document.querySelector('footer')"
                                       ".getBoundingClientRect().bottom) + 12")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": height, "deviceScaleFactor": 1, "mobile": True})
        update = os.environ.get("HOTDOG_UPDATE_SCREENSHOT") == "1"
        shot = os.path.join(ROOT, "docs", "serve.png") if update else str(tmp_path / "serve.png")
        assert driver.save_screenshot(shot)
        Image.open(shot).convert("RGB").quantize(colors=128).save(shot, optimize=True)

        driver.find_element(By.ID, "image").send_keys(str(note))  # the answer about the last photo goes away
        wait.until(lambda d: error.is_displayed())
        assert not driver.find_element(By.ID, "result").is_displayed()
    finally:
        driver.quit()


def test_the_command_says_what_to_install_without_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert cli.main(["serve", "--model-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    # Below Python 3.11 the extra installs nothing (its pinned releases need 3.11): the Python is what to change.
    told = "pip install 'hotdog-finetune[serve]'" if sys.version_info >= (3, 11) else "needs Python 3.11 or newer"
    assert told in err and err.count("\n") == 1, err


def test_serve_help_imports_neither_mxnet_nor_the_web_libraries():
    code = ("import contextlib, io, sys\nfrom hotdog.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['serve', '--help'])\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('mxnet', 'starlette', 'uvicorn') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_a_busy_port_a_bad_limit_and_any_other_address_than_loopback(run_dir, monkeypatch, capsys):
    pytest.importorskip("uvicorn", reason=SERVE_EXTRA_MISSING)
    import uvicorn
    assert cli.main(["serve", "--model-dir", run_dir, "--max-upload-mb", "0"]) == 1
    assert "--max-upload-mb must be more than 0" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert cli.main(["serve", "--model-dir", run_dir, "--port", str(busy.getsockname()[1])]) == 1
    assert "choose another --port" in capsys.readouterr().err

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)  # bind, warn, announce; no serving
    assert cli.main(["serve", "--model-dir", run_dir, "--host", "0.0.0.0", "--port", "0"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^warning: listening on 0\.0\.0\.0: anyone who can reach this machine", err, re.M), err
    assert re.search(r" at http://0\.0\.0\.0:\d+/ ", out), out


def test_ctrl_c_stops_it_and_nothing_was_written(server, run_dir):
    before = sorted(os.listdir(run_dir))
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=20) == 0
    server.reader.join(timeout=10)
    assert server.stdout_so_far().strip().endswith("stopped")
    assert os.listdir(str(server.workdir)) == [] and os.listdir(str(server.tmpdir)) == []
    assert sorted(os.listdir(run_dir)) == before
