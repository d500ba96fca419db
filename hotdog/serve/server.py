"""Running the server: the model loaded, the socket bound, then uvicorn until Ctrl+C (or SIGTERM).

The socket is bound here rather than by uvicorn so that the port is known before anything is served
(``--port 0`` lets the system pick a free one, and the log line says which).
"""
import ipaddress
import logging
import socket

import uvicorn

from ..errors import ConfigError, HotdogError
from . import DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT
from .app import make_app
from .model import ServedModel

log = logging.getLogger(__name__)
# In-flight requests get this long to finish once asked to stop; one photo takes well under a second.
GRACEFUL_SHUTDOWN_SECONDS = 5


def serve(model_dir, ctx, host=DEFAULT_HOST, port=DEFAULT_PORT, max_upload_mb=DEFAULT_MAX_UPLOAD_MB):
    """Serve the run folder ``model_dir`` on ``host``:``port`` until interrupted. Logs the URL (INFO) once it
    can be opened, and a warning when ``host`` is reachable from other machines."""
    if not max_upload_mb > 0:
        raise ConfigError("max_upload_mb", "must be more than 0 (got {})".format(max_upload_mb))
    sock = bind(host, port)  # first: a busy port is said at once, not after loading the model
    try:
        address, bound_port = sock.getsockname()[:2]
        if not ipaddress.ip_address(address).is_loopback:
            log.warning("listening on %s: anyone who can reach this machine on port %d can use the model (and "
                        "read its class names and run name); use --host 127.0.0.1 to keep it local",
                        address, bound_port)
        model = ServedModel(model_dir, ctx)
        try:
            config = uvicorn.Config(make_app(model, int(max_upload_mb * 2 ** 20)), http="h11", lifespan="off",
                                    log_config=None, access_log=False,
                                    timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
            # Listening before the URL is announced: a client that connects at once waits in the backlog for
            # uvicorn to accept it, instead of being refused.
            sock.listen()
            log.info("serving %s (%s, %s) at %s (Ctrl+C stops it)", model.identity["run"],
                     model.identity["strategy"], model.identity["backbone"], url(host, bound_port))
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            model.close()
    finally:
        sock.close()


def bind(host, port):
    """A TCP socket bound to ``host``:``port`` (IPv4 or IPv6, as the host resolves); uvicorn listens on it."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except OSError as exc:
        raise HotdogError("cannot listen on {} ({}); give --host an address of this machine, such as "
                          "127.0.0.1".format(host, exc.strerror or exc)) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise HotdogError("cannot listen on {} port {} ({}); choose another --port (0 picks a free one)".format(
            host, port, exc.strerror or exc)) from None
    return sock


def url(host, port):
    """The address to open: an IPv6 literal goes in brackets."""
    return "http://{}:{}/".format("[{}]".format(host) if ":" in host else host, port)
