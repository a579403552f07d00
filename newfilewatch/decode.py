"""Kept for imports by older code: literal decoding now lives in newfilewatch.detect.decode."""
from newfilewatch.detect.decode import (
    DECODERS, Budget, Layer, apply, chr_chains, concatenations, fold, peel, read_literal,
    unescape)

__all__ = ['DECODERS', 'Budget', 'Layer', 'apply', 'chr_chains', 'concatenations', 'fold', 'peel',
           'read_literal', 'unescape']
