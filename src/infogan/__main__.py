"""``python -m infogan`` (and ``torchrun -m infogan train ...``) runs the command line."""

import sys

from infogan.cli import main

sys.exit(main())
