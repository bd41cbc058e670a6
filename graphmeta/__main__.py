"""``python -m graphmeta`` runs the command line."""

import sys

from graphmeta.cli.main import main

sys.exit(main())
