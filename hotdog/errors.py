"""The one exception type users see: a message that says what went wrong and what to do next."""


class HotdogError(Exception):
    """An expected failure (bad input, no network, bad checksum...).

    The CLI prints it as a single line and exits non-zero; no traceback wall.
    """

    exit_code = 1
