"""``python -m hotdog`` runs the same CLI as the ``hotdog`` command."""
import sys

from .cli import main

sys.exit(main())
