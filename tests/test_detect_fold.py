"""Constant folding: names built at run time fold to what PHP would compute, or to None."""
from newfilewatch.detect import fold, lexer


def value(expr, env=None):
    src = b'<?php ' + expr
    toks = lexer.tokenize(src)
    env = env or {}
    f = fold.Folder(toks, src, fold.Budget(), lambda n: env.get(n))
    return f.fold(0, len(toks))


def test_concatenation_and_escapes():
    assert value(b"'sys' . \"\\x74em\"") == b'system'


def test_index_arithmetic_into_a_known_string():
    env = {b's': b'abcdefghijklmnopqrstuvwxyz'}
    assert value(b'$s[(36/2)] . $s{24} . $s[18] . $s[(38/2)] . $s[4] . $s[26-14]', env) == b'system'
    assert value(b'$s[18].$s[24].$s[18].$s[19].$s[4].$s[12]', env) == b'system'


def test_chr_ord_and_bitwise():
    assert value(b'chr(211^181) . chr(ord("?")+0x3A)') == b'fy'
    assert value(b"'rSy' ^ \"\\x11\\x35\\x1c\"") == bytes(a ^ b for a, b in zip(b'rSy', b'\x11\x35\x1c'))
    assert value(b'~"\\x8c\\x86\\x8c\\x8b\\x9a\\x92"') == b'system'


def test_bare_constants_read_as_their_name():
    assert value(b'sys . tem') == b'system'


def test_decoders_and_string_functions():
    assert value(b"base64_decode('c3lzdGVt')") == b'system'
    assert value(b"strrev('tressa')") == b'assert'
    assert value(b"str_replace('x', '', 'sxysxtexm')") == b'system'
    assert value(b"implode('', array('ev', 'al'))") == b'eval'
    assert value(b"join('', range('a', 'c'))") == b'abc'
    assert value(b"str_rot13('flfgrz')") == b'system'
    assert value(b"strtr('abc', 'ab', 'xy')") == b'xyc'
    assert value(b"sprintf('%s%c', 'sys', 116)") == b'syst'
    assert value(b"pack('H*', '73797374656d')") == b'system'


def test_unknown_stays_unknown():
    assert value(b'$undefined . "x"') is None
    assert value(b'strtolower($_GET["a"])') is None
    assert value(b'some_function("a")') is None


def test_budget_bounds_work():
    b = fold.Budget(steps=50)
    src = b'<?php ' + b" . ".join([b"'a'"] * 500)
    toks = lexer.tokenize(src)
    assert fold.Folder(toks, src, b).fold(0, len(toks)) is None
    assert b.used > 50
