"""Kept for imports by older code: the engine now lives in newfilewatch.detect.engine (and
its rule families in the other newfilewatch.detect modules)."""
from newfilewatch import yarascan
from newfilewatch.detect.engine import Engine, Verdict
from newfilewatch.detect.triage import _worth_deep_look      # older tests call the gate

__all__ = ['Engine', 'Verdict', 'yarascan', '_worth_deep_look']
