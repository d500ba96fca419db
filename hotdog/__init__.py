"""hotdog: the D2L "Fine-Tuning" chapter (hotdog vs not-hotdog) as reusable MXNet Gluon software.

Where things live:
  data path      download.py (fetch + verify), extract.py (safe unzip), layout.py (labels), data.py (pipelines)
  pictures       plots.py
  test data      synthetic.py
  command line   cli.py
"""
__version__ = "0.1.0"
