"""The exceptions users see: a message that says what went wrong and what to do next."""


class HotdogError(Exception):
    """An expected failure (bad input, no network, bad checksum...).

    The command line prints it as a single line and exits with ``exit_code``; no traceback wall.
    """

    exit_code = 1


class ConfigError(HotdogError, ValueError):
    """A setting has a value it cannot take.

    The message names the Python parameter (``epochs must be at least 1``), which is what a notebook user
    wrote; ``param`` lets the command line say ``--epochs`` instead (see ``cli.options``).
    """

    def __init__(self, param, problem):
        self.param, self.problem = param, problem
        super().__init__("{} {}".format(param, problem))

    def told_with(self, rename):
        """The message with each parameter ``p`` called ``rename(p)`` (e.g. its command-line flag)."""
        return "{} {}".format(rename(self.param), self.problem)


class ConfigErrors(ConfigError):
    """Several settings are wrong at once: all of them are named, so that one run finds them all."""

    def __init__(self, errors):
        self.errors = list(errors)
        self.param, self.problem = self.errors[0].param, self.errors[0].problem
        Exception.__init__(self, "; ".join(str(e) for e in self.errors))

    def told_with(self, rename):
        return "; ".join(e.told_with(rename) for e in self.errors)

    @classmethod
    def raise_if_any(cls, errors):
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise cls(errors)



def mxnet_error_line(exc, limit=200):
    """The informative line of an MXNetError: its last non-empty one (the first is often 'Traceback')."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:limit]
