"""`python -m effnet_helpers` is the `effnet` command."""
import sys

from .cli import main

sys.exit(main())
