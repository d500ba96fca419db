"""hotdog: the D2L "Fine-Tuning" chapter (hotdog vs not-hotdog) as reusable MXNet Gluon software.

Where things live:
  data path      download.py (fetch + verify), extract.py (safe unzip), layout.py (labels), data.py (pipelines)
  model surgery  models.py (backbones, pretrained weights), strategies.py (what learns), imagenet.py (class 934)
  training       training.py (the loop), checkpoint.py (what is written), devices.py, evaluation.py, predict.py
  comparison     compare.py (strategies side by side), demo.py (offline synthetic demo), plots.py
  test data      synthetic.py
  command line   cli.py
"""
import os

# MXNet 1.9.1 sizes its OpenMP pool to half the cores on x86 (it assumes hyper-threading), so by default it
# computes on one core of two. It reads OMP_NUM_THREADS once, when it is imported, so set it before that;
# a value the user set wins.
if "mxnet" not in __import__("sys").modules:
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

__version__ = "0.1.0"
