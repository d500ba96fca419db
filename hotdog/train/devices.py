"""Which devices to run on: every GPU by default, chosen GPUs, or N CPU contexts when there is no GPU."""
import mxnet as mx

from ..errors import HotdogError


def choose_contexts(gpus=None, cpu_contexts=None):
    """``gpus``: '0,2' picks those GPUs; ``cpu_contexts``: N data-parallel CPU contexts (wins over GPUs).

    With neither, all GPUs, or the CPU when there are none.
    """
    if cpu_contexts:
        if cpu_contexts < 1:
            raise HotdogError("--cpu-contexts must be at least 1")
        return [mx.cpu(i) for i in range(cpu_contexts)]
    available = mx.context.num_gpus()
    if gpus:
        try:
            ids = [int(i) for i in str(gpus).split(",") if i.strip()]
        except ValueError:
            raise HotdogError("--gpus takes GPU numbers separated by commas, e.g. 0,2 (got {!r})".format(gpus)) from None
        missing = [i for i in ids if not 0 <= i < available]
        if missing:
            raise HotdogError("--gpus {}: GPU {} does not exist ({} GPU(s) found{})".format(
                gpus, missing[0], available,
                "; is an mxnet-cuXXX build installed instead of mxnet?" if not available else ""))
        return [mx.gpu(i) for i in ids]
    if available:
        return [mx.gpu(i) for i in range(available)]
    return [mx.cpu()]


def describe(contexts):
    return ", ".join(str(c) for c in contexts)
