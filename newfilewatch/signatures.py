"""Kept for imports by older code: the rule and weight table now lives in
newfilewatch.detect.weights."""
from newfilewatch.detect.weights import RULES, SEVERITIES, YARA_PREFIX, Rule, families

__all__ = ['RULES', 'SEVERITIES', 'YARA_PREFIX', 'Rule', 'families']
