"""Kept for imports by older code: the rule and weight table now lives in
newfilewatch.detect.weights."""
from newfilewatch.detect.weights import (           # noqa: F401
    RULES, SEVERITIES, YARA_PREFIX, Rule, families)
