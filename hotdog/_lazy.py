"""Lazy re-exports for the subpackages' ``__init__``.

``from hotdog.data import load_datasets`` should work, but importing ``hotdog.data.download`` must not
import MXNet (``hotdog download`` starts in a fraction of a second). So each subpackage lists its public
names and the module each lives in, and a name's module is imported the first time the name is used.
"""
import importlib


def lazy_exports(package, names):
    """``__getattr__`` and ``__dir__`` for ``package`` exporting ``names`` ({name: submodule})."""

    def __getattr__(name):
        if name not in names:
            raise AttributeError("module {!r} has no attribute {!r}".format(package, name))
        return getattr(importlib.import_module("{}.{}".format(package, names[name])), name)

    def __dir__():
        return sorted(names)

    return __getattr__, __dir__
