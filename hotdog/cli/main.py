"""The ``hotdog`` command: the parser (one module per group of commands), logging, and errors as one line.

Library code logs to the ``hotdog`` logger and raises ``HotdogError``; here it is decided what reaches
the terminal: info lines on stdout, warnings and errors on stderr, no traceback for an expected error
(``--debug`` shows them). MXNet is imported by the commands that need it, not by ``hotdog --help``.
"""
import argparse
import contextlib
import logging
import sys

from .. import use_all_cores
from .._version import __version__
from ..data.layout import DATA_DIR_ENV, default_data_dir
from ..errors import ConfigError, HotdogError
from . import (
    data_commands,
    lr_find_command,
    model_commands,
    options,
    serve_command,
    train_commands,
)

GROUPS = (data_commands, train_commands, lr_find_command, model_commands, serve_command)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hotdog",
        description="Fine-tuning vs training from scratch on hotdog / not-hotdog (D2L 'Fine-Tuning'), "
                    "with MXNet Gluon.",
        epilog="Where things are written: the dataset, its caches and the demo's data under --data-dir "
               "(default: ${} or ./data; now {}), run folders under --out (default: ./runs/...), the model zoo's "
               "pretrained weights under $MXNET_HOME/models (default ~/.mxnet/models).".format(
                   DATA_DIR_ENV, default_data_dir()))
    parser.add_argument("--version", action="version", version="hotdog " + __version__)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group in GROUPS:
        group.add_commands(sub)
    parser.commands = sub.choices  # {name: the command's parser}, to name a command's flags in errors
    return parser


class _ConsoleHandler(logging.Handler):
    """Info lines as plain text on stdout; warnings and errors, prefixed with their level, on stderr.

    Looks the streams up at every record, so a redirected or captured stdout is honoured.
    """

    def emit(self, record):
        try:
            message = record.getMessage()
            if record.levelno <= logging.INFO:
                print(message, file=sys.stdout, flush=True)
            else:
                print("{}: {}".format(record.levelname.lower(), message), file=sys.stderr, flush=True)
        except Exception:  # a logging failure must not end the run
            self.handleError(record)


@contextlib.contextmanager
def _console_logging(quiet):
    """The ``hotdog`` logger on the terminal while a command runs, and as it was afterwards (main() may
    run several times in one process: tests, notebooks)."""
    logger = logging.getLogger("hotdog")
    handler, level, propagate = _ConsoleHandler(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    # Not also through the root logger: a library may configure it (MXNet's quantization calls
    # logging.basicConfig), and every line would be printed twice.
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def main(argv=None):
    use_all_cores()  # before any command imports MXNet
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _console_logging(getattr(args, "quiet", False)):
            status = args.func(args)
    except ConfigError as exc:  # a library error names the Python parameter; the user typed a flag
        if args.debug:
            raise
        command = parser.commands[args.command]
        print("error: {}".format(exc.told_with(lambda param: options.flag_for(command, param))), file=sys.stderr)
        return exc.exit_code
    except HotdogError as exc:
        if args.debug:
            raise
        print("error: {}".format(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the file system said no: a path, a permission, a full disk
        if args.debug:
            raise
        where = " ".join(str(f) for f in (exc.filename, exc.filename2) if f)
        print("error: {}{} ({})".format(where + ": " if where else "", exc.strerror or exc, type(exc).__name__),
              file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, or an input nothing checked: one line, the traceback with --debug
        if args.debug:
            raise
        print("error: unexpected {}: {} (run again with --debug for the traceback, and please report it)".format(
            type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""), file=sys.stderr)
        return 1
    return status or 0
