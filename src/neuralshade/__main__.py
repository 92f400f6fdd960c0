"""``python -m neuralshade`` runs the command-line interface."""

import sys

from neuralshade.cli import main

sys.exit(main())
