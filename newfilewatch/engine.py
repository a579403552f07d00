"""Kept for imports by older code: the engine now lives in newfilewatch.detect.engine (and
its rule families in the other newfilewatch.detect modules)."""
from newfilewatch.detect.engine import Engine, Verdict

__all__ = ['Engine', 'Verdict']
