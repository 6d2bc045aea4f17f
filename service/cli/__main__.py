"""``python -m service.cli``: the ``capplan`` command."""

import sys

from service.cli.main import main

sys.exit(main())
