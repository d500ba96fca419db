"""Shared fixtures: a loopback HTTP file server and small synthetic datasets made in the test."""
import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hotdog.data.synthetic import make_synthetic_hotdog


class FileServer:
    """Serves ``files`` (path -> bytes) on 127.0.0.1 with HTTP Range support.

    ``drop_after``: on the first full (non-Range) request for a path, send the right Content-Length but
    close the connection after this many bytes (a dropped download). ``ranges``: honour Range headers.
    ``requests`` records (path, Range header) for every request.
    """

    def __init__(self):
        self.files = {}
        self.requests = []
        self.drop_after = None
        self.ranges = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "File not found")
                    return
                start = 0
                match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if match and server.ranges:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes {}-{}/{}".format(start, len(body) - 1, len(body)))
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if server.drop_after is not None and start == 0:
                    server.drop_after, cut = None, server.drop_after
                    self.wfile.write(chunk[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path):
        return "http://127.0.0.1:{}{}".format(self.port, path)


@pytest.fixture
def http_server():
    server = FileServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def free_port():
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def synthetic_zip(tmp_path_factory):
    """(zip path, sha1, bytes) of a small synthetic dataset in the real archive's layout."""
    folder = tmp_path_factory.mktemp("synthetic-zip")
    zip_path = str(folder / "hotdog.zip")
    sha1 = make_synthetic_hotdog(str(folder / "hotdog"), n_train=6, n_test=3, seed=1,
                                 size_range=(150, 220), zip_path=zip_path)
    with open(zip_path, "rb") as f:
        return zip_path, sha1, f.read()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A data dir with ``hotdog/{train,test}/{hotdog,not-hotdog}`` of 8 train and 4 test images per class."""
    data_dir = tmp_path_factory.mktemp("tiny-data")
    make_synthetic_hotdog(os.path.join(str(data_dir), "hotdog"), n_train=8, n_test=4, seed=2,
                          size_range=(150, 220))
    return str(data_dir)


PLANTED_CLASS = 934  # ImageNet's hotdog


@pytest.fixture(scope="session")
def pretrained_params(tmp_path_factory):
    """A random 1000-class resnet18_v2 saved with save_parameters, with a recognisable hotdog row.

    Returns (path, planted weight row, planted bias).
    """
    import mxnet as mx
    import numpy as np
    from mxnet.gluon.model_zoo.vision import get_model

    mx.random.seed(0)
    net = get_model("resnet18_v2", classes=1000)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 32, 32)))
    row = np.linspace(-1, 1, 512).astype(np.float32)
    weight = net.output.weight.data().asnumpy()
    weight[PLANTED_CLASS] = row
    net.output.weight.set_data(mx.nd.array(weight))
    bias = net.output.bias.data().asnumpy()
    bias[PLANTED_CLASS] = 0.75
    net.output.bias.set_data(mx.nd.array(bias))
    path = str(tmp_path_factory.mktemp("pretrained") / "resnet18_v2-random.params")
    net.save_parameters(path)
    return path, row, 0.75


@pytest.fixture
def hotdog_log(caplog):
    """What the package logged at INFO and above (the library logs; only the command line prints)."""
    import logging
    caplog.set_level(logging.INFO, logger="hotdog")
    return caplog
