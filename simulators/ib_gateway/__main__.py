"""``python -m simulators.ib_gateway --port 4002``."""

import sys

from .cli import main

sys.exit(main())
