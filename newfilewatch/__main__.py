"""Allow ``python -m newfilewatch`` where the console script is not on PATH (e.g. in %check)."""
import sys

from newfilewatch.cli import main

sys.exit(main())
