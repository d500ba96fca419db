"""The one exception type users see: a message that says what went wrong and what to do next."""


class HotdogError(Exception):
    """An expected failure (bad input, no network, bad checksum...).

    The CLI prints it as a single line and exits non-zero; no traceback wall.
    """

    exit_code = 1


def mxnet_error_summary(exc, limit=200):
    """The informative line of an MXNetError: the last non-empty one (the first is often 'Traceback')."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:limit]
