"""Kept for imports by older code: the engine now lives in newfilewatch.detect.engine."""
from newfilewatch.detect.engine import Engine, Verdict      # noqa: F401
