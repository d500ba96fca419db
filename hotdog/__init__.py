"""hotdog: the D2L "Fine-Tuning" chapter (hotdog vs not-hotdog) as reusable MXNet Gluon software.

Where things live (imports run one way, down this list; nothing imports ``cli``):
  cli/          the ``hotdog`` command: one module per group of commands, options made from TrainConfig
  experiments/  compare (the chapter's result), report and plots, the offline demo, the benchmark
  serve/        `hotdog serve`: a page and a JSON endpoint to try a trained model (beside experiments/)
  train/        config, step, loop + hooks, recipes (stages), run folders, devices, distributed
  evaluate/     metrics, predict and evaluate a run, zero-shot ImageNet detector
  models/       backbones, pretrained weights, surgery, strategies, ImageNet's class 934
  data/         download + safe extract, layout, folders, transforms, decode-once cache, pipelines, synthetic
  errors.py, _io.py (atomic writes, sha1, progress), _mx.py (every private MXNet use), _lazy.py
"""
import os

from ._version import __version__

__all__ = ["__version__", "use_all_cores"]


def use_all_cores():
    """Let MXNet compute on every core. Call it before MXNet is imported; a no-op after, or when the user
    set OMP_NUM_THREADS.

    MXNet 1.9.1 sizes its OpenMP pool to half the cores on x86 (it assumes hyper-threading), so by default
    it computes on one core of two: measured here, ResNet-18 training went from 433 to 708 img/s at 32 px.
    It reads OMP_NUM_THREADS once, when it is imported. An empty value counts as unset (libgomp would print
    "Invalid value" and use its default).
    """
    import sys
    if "mxnet" in sys.modules:
        return False
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return False
    os.environ["OMP_NUM_THREADS"] = str(os.cpu_count() or 1)
    return True


# The default for everyone who imports hotdog before MXNet (the command line calls it explicitly too).
use_all_cores()
