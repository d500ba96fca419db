#!/usr/bin/env python
"""The chapter's exercise on ImageNet's own hotdog class: which row it is, and what reusing it gives.

The book takes row 713 of the pretrained output layer; in ImageNet-1k that row is "photocopier", and
"hotdog" is row 934. This prints both, then compares `finetune` with `hotdog-init` (the output layer
started from the hotdog row). Extra options go to `hotdog compare`, e.g.
    python scripts/imagenet_hotdog_weights.py --demo
    python scripts/imagenet_hotdog_weights.py --imagenet-class 713     # the book verbatim
"""
import sys

from hotdog.cli import main
from hotdog.models.imagenet import BOOK_ROW, class_index, class_name

if __name__ == "__main__":
    hotdog_row = class_index("hotdog")
    print("ImageNet row {} (the book's) is {!r}; 'hotdog' is row {}".format(BOOK_ROW, class_name(BOOK_ROW), hotdog_row))
    sys.exit(main(["compare", "--strategies", "finetune,hotdog-init", "--out", "runs/hotdog-init"] + sys.argv[1:]))
