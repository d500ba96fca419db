"""Every use of MXNet's private API, in one place, each with why it is needed.

setup.py pins ``mxnet==1.9.1``; these names are stable there. Anything that reaches into an underscore
attribute of MXNet goes through this module (a test greps the package for it), so an MXNet upgrade has
one file to check.
"""
import mxnet as mx


def use_running_stats(batchnorm):
    """Make a BatchNorm normalise with its stored running statistics, in training mode too.

    Gluon 1.x has no public setter: ``use_global_stats`` is a constructor argument kept in ``_kwargs``,
    which the block passes to the operator on every call (so changing it later takes effect).
    """
    batchnorm._kwargs["use_global_stats"] = True


def child_blocks(block):
    """The direct children of a (Hybrid)Sequential in order. Gluon 1.x exposes them only as ``_children``."""
    return list(block._children.values())


def params_by_structural_name(net):
    """{name: Parameter} under the names ``save_parameters`` writes (``features.0.weight``...).

    ``collect_params`` uses prefixed names (``resnetv20_conv0_weight``) that change with the number of nets
    built; files and fingerprints need the structural ones, which only this private method gives.
    """
    return net._collect_params_with_prefix()


def is_initialised(param):
    """Whether ``param`` holds data yet (deferred initialisation leaves it empty until the first forward)."""
    return param._data is not None


def init_kvstore_now(trainer):
    """Initialise ``trainer``'s kvstore and pull the initial weights now, and wait for them.

    Gluon does this lazily inside the first ``step()``, where the pull of rank 0's weights is queued with
    the first gradient push: a distributed worker could start from other weights (seen here: from zeros
    in 5 runs of 6).
    """
    trainer._init_kvstore()
    trainer._init_params()
    mx.nd.waitall()


def running_stat_params(net):
    """BatchNorm's running mean and variance: the parameters that change without a gradient.

    Recognised by name, which is how Gluon 1.x names them (``..._running_mean``, ``..._running_var``).
    """
    return [p for p in net.collect_params().values() if p.grad_req == "null" and "running" in p.name]
