"""Bounded de-obfuscation: real decoders on hand-made literals, and limits that hold."""
import base64
import zlib

from hypothesis import given, settings, strategies as st

from newfilewatch.detect import decode


def _deflate(raw):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush()


def test_gzinflate_base64_chain_is_peeled():
    blob = base64.b64encode(_deflate(b'system($_GET["c"]);')).decode()
    src = ("<?php eval(gzinflate(base64_decode('%s')));" % blob).encode()
    layers = decode.peel(src)
    assert layers[0].chain == ('gzinflate', 'base64_decode')
    assert layers[0].payload == b'system($_GET["c"]);'


def test_rot13_strrev_and_escapes():
    assert decode.peel(b"str_rot13('flfgrz')")[0].payload == b'system'
    assert decode.peel(b"strrev('metsys')")[0].payload == b'system'
    value, end = decode.read_literal(b'"\\x73\\171stem" rest', 0)
    assert value == b'system' and end == 14


def test_decompression_bomb_is_capped_by_output_budget():
    bomb = base64.b64encode(_deflate(b'\0' * (16 << 20))).decode()   # 16 MiB of zeros
    budget = decode.Budget(max_output=1 << 20)
    layers = decode.peel(("gzinflate(base64_decode('%s'))" % bomb).encode(), budget)
    assert budget.output <= 1 << 20
    assert sum(len(l.payload) for l in layers) <= 1 << 20
    assert budget.exhausted


def test_fifty_layer_nest_stops_at_max_layers():
    payload = b'system($_GET[1]);'
    for _ in range(50):                  # compressed layers keep the nest small on disk
        payload = ("eval(gzinflate(base64_decode('%s')));"
                   % base64.b64encode(_deflate(payload)).decode()).encode()
    budget = decode.Budget(max_layers=8)
    layers = decode.peel(payload, budget)
    assert budget.deepest == 8
    assert len(layers) <= 8
    assert budget.steps <= budget.max_steps


def test_step_budget_bounds_many_literals():
    src = b''.join(b"base64_decode('YWJj');" for _ in range(5000))
    budget = decode.Budget(max_steps=100)
    decode.peel(src, budget)
    assert budget.steps == 100 and budget.exhausted


def test_chr_chain_and_concatenation():
    assert [t for _, t in decode.chr_chains(b'$f = chr(115).chr(121).chr(115).chr(116);')] == [b'syst']
    assert [t for _, t in decode.concatenations(b"$a = 'as'.'se'.\"rt\";")] == [b'assert']


def test_garbage_does_not_decode():
    assert decode.peel(b"gzinflate(base64_decode('!!!notbase64'))") == []
    assert decode.peel(b"base64_decode($x)") == []


def test_fold_constant_string_expressions():
    from newfilewatch.detect.decode import fold
    assert fold(b"'as' . 's' . 'ert'") == b'assert'
    assert fold(b"strtr('azxcvt', 'zxcv', 'sser')") == b'assert'
    assert fold(b"str_replace('`', '', 'a`s`s`e`r`t')") == b'assert'
    assert fold(b"substr('1a', 1) . 'ssert'") == b'assert'
    assert fold(b"$a . 'b'", {b'a': b'x'}) == b'xb'
    assert fold(b"('A' ^ ' ')") == b'a'
    assert fold(b"$unknown . 'b'") is None           # not constant
    assert fold(b"'a') { return 1") is None           # trailing code: not an expression
    assert fold(b"file_get_contents('x')") is None    # only pure string functions


def test_fold_is_bounded_on_hostile_input():
    from newfilewatch.detect.decode import fold
    assert fold(b"str_repeat('a', 100000000)") is None
    assert fold(b"(" * 5000 + b"'a'" + b")" * 5000) is None
    long_concat = b" . ".join([b"'ab'"] * 5000)
    assert fold(long_concat) is None                  # more steps than the budget allows


def test_fold_numbers_arrays_and_names_held_in_variables():
    from newfilewatch.detect.decode import fold
    assert fold(b"chr(211^181) . chr(216^171)") == b'fs'          # numbers XOR as numbers
    assert fold(b'chr(ord("?") - 23)') == b'('
    assert fold(b"implode('', array('sy', 'st', 'em'))") == b'system'
    assert fold(b"join(['as', 'sert'])") == b'assert'
    assert fold(b"pack('H*', '6173')") == b'as'
    assert fold(b"'abc'[1] . array('x', 'y')[1]") == b'by'
    env = {b'r': b'str_replace'}
    assert fold(b"$r('k', '', 'kbakske6k4k_kdkekckokdke')", env) == b'base64_decode'
    assert fold(b"$r('a')", {b'r': b'file_get_contents'}) is None  # never an impure call
    assert fold(b"array('a', 'b')") is None                        # an array is not a string
    assert fold(b"array('a', 'b')", keep_arrays=True) == [b'a', b'b']
    assert fold(b"chr(1 << 40)") is None


def test_fold_constants_and_pack_of_bytes():
    from newfilewatch.detect.decode import fold
    assert fold(b"join(null, array('a', 'b'))") == b'ab'
    assert fold(b"pack('c*', 0x73, 121, 115)") == b'sys'
    assert fold(b"'x' . true . false") == b'x1'


def test_fold_variable_variables():
    from newfilewatch.detect.decode import fold
    env = {b'o': b'p', b'p': b'as', b'as': b'sthru'}
    assert fold(b'$o . $$o . $$$o', env) == b'passthru'
    assert fold(b'$$missing', env) is None


_FOLD_TOKENS = [b"'a'", b'"\\x41"', b'1', b'0x41', b'$a', b'$$a', b'$l', b'.', b'^', b'~', b'-', b'+',
                b'*', b'(', b')', b'[', b']', b',', b'array(', b'chr(', b'ord(', b'implode(', b'pack(',
                b"'H*'", b"'c*'", b'null', b'true', b'str_replace(', b'substr(', b'strrev(',
                b'base64_decode(', b'$f(']


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_FOLD_TOKENS), min_size=1, max_size=14), st.booleans())
def test_fold_never_raises_on_token_soup(tokens, keep_arrays):
    from newfilewatch.detect.decode import fold
    env = {b'a': b'xy', b'f': b'strrev', b'l': [b'a', b'b']}
    value = fold(b' '.join(tokens), env, keep_arrays=keep_arrays)
    assert value is None or isinstance(value, (bytes, list))
