"""Kept for imports by older code: literal decoding now lives in newfilewatch.detect.decode."""
from newfilewatch.detect.decode import (            # noqa: F401
    DECODERS, Budget, Layer, apply, chr_chains, concatenations, fold, peel, read_literal,
    unescape)
