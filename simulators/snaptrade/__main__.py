"""Entry point: `python -m simulators.snaptrade --port N`."""

import sys

from .cli import main

sys.exit(main())
