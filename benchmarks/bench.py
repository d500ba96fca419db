#!/usr/bin/env python
"""Training speed against the compute ceiling; the same as `hotdog bench` (see `hotdog bench --help`).

    python benchmarks/bench.py                          # 224 and 64 px on a generated set
    python benchmarks/bench.py --markdown docs/bench.md # also write the table
"""
import sys

from hotdog.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench"] + sys.argv[1:]))
