"""``python -m connector.cli``: the same as the ``connector`` command."""
import sys

from . import main

sys.exit(main())
