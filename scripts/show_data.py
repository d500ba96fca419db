#!/usr/bin/env python
"""The chapter's picture of the data: the first 8 hotdogs and the last 8 not-hotdogs of the training set.

Same as `hotdog show`, e.g. `python scripts/show_data.py --data-dir data --out samples.png`.
"""
import sys

from hotdog.cli import main

if __name__ == "__main__":
    sys.exit(main(["show"] + sys.argv[1:]))
