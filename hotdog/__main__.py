"""``python -m hotdog`` runs the same command line as ``hotdog``."""
import sys

from .cli import main

sys.exit(main())
