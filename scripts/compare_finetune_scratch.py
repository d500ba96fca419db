#!/usr/bin/env python
"""The chapter's main experiment: fine-tune the ImageNet ResNet-18 v2 vs train it from scratch.

Same as `hotdog compare`; every option of `hotdog compare --help` works here too, e.g.
    python scripts/compare_finetune_scratch.py               # the chapter's settings, real data
    python scripts/compare_finetune_scratch.py --demo        # offline, synthetic, a few minutes on a CPU
"""
import sys

from hotdog.cli import main

if __name__ == "__main__":
    sys.exit(main(["compare"] + sys.argv[1:]))
