"""``python -m okx_async``: the ``okx-async`` command."""

import sys

from ._main import main

sys.exit(main())
