"""``hotdog serve``: a page to try a trained model in a browser, and the JSON endpoint behind it.

  model    the run folder's net, loaded once and used by one worker thread; what model answers (identity)
  app      the web application: the page and its assets, POST /predict, GET /model, errors as JSON
  server   binds the socket (loopback by default) and runs the application until stopped
  static/  the page: HTML, CSS, JS and an icon, read from the installed package (works offline)

The web libraries are the optional ``serve`` extra, imported only by ``server`` and ``app``; this module
imports nothing heavy, so that the command line can say what to install before trying.
"""
import importlib.util
import sys

from ..errors import HotdogError

# The import names of the serve extra's distributions (setup.py pins them).
WEB_LIBRARIES = ("starlette", "uvicorn", "python_multipart")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# A phone photo is 2 to 10 MB, the largest (108 MP) about 25 MB; an upload is held in memory while answered.
DEFAULT_MAX_UPLOAD_MB = 32.0


def require_web_libraries():
    """Raise HotdogError naming what to install when the serve extra is missing."""
    missing = [name for name in WEB_LIBRARIES if importlib.util.find_spec(name) is None]
    if not missing:
        return
    if sys.version_info < (3, 11):  # the extra's pinned releases need 3.11; pip installs nothing below
        raise HotdogError("hotdog serve needs Python 3.11 or newer (its web libraries do; missing: {})".format(
            ", ".join(missing)))
    raise HotdogError("hotdog serve needs its web libraries (missing: {}): pip install "
                      "'hotdog-finetune[serve]'".format(", ".join(missing)))
