"""Experiments built from the parts: the chapter's comparison, its report and pictures, the offline demo,
the speed benchmark.

  compare  several strategies side by side (results.json schema hotdog.compare/1)
  report   the table, results.json, results.md, the pictures
  plots    the chapter's data grid and the learning curves (no pyplot: no process-wide state)
  demo     the offline demo: synthetic data and synthetic pretraining
  bench    how close the real loop gets to the compute ceiling
"""
from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "DEFAULT_STRATEGIES": "compare", "format_table": "report",
    "save_curves": "plots", "save_data_samples": "plots",
    "run_demo": "demo", "DemoSettings": "demo", "run_bench": "bench",
})
