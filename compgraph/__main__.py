"""``python -m compgraph``: the same as the ``compgraph`` command."""

import sys

from compgraph.cli import main

sys.exit(main())
