"""Hostile names: one line, no control characters, every byte recoverable."""
import os

from hypothesis import given, settings, strategies as st

from newfilewatch.escape import escape_name, one_line, unescape_name

names = st.binary(min_size=1, max_size=200).filter(lambda b: b'/' not in b and b'\0' not in b)


@settings(max_examples=2000, deadline=None)
@given(names)
def test_any_name_is_one_printable_line_and_round_trips(name):
    text = escape_name(name)
    assert text.isprintable()
    assert '\n' not in text and '\r' not in text and '\x1b' not in text
    assert os.fsencode(unescape_name(text)) == name


@settings(max_examples=500, deadline=None)
@given(names, names)
def test_different_names_never_print_the_same(a, b):
    if a != b:
        assert escape_name(a) != escape_name(b)


def test_examples_an_admin_will_see():
    assert escape_name(b'ok.php') == 'ok.php'
    assert escape_name(b'a\nb.php') == 'a\\nb.php'
    assert escape_name(b'\x1b[2J.php') == '\\x1b[2J.php'
    assert escape_name(b'\xff.php') == '\\xff.php'
    assert escape_name('caf\u00e9.php'.encode()) == 'caf\u00e9.php'
    assert escape_name(b'$(reboot)`id`.php') == '$(reboot)`id`.php'   # harmless as text


def test_one_line_cuts_long_text():
    assert one_line('x' * 500, 20) == 'x' * 17 + '...'
    assert one_line(b'a\r\nb', 20) == 'a\\r\\nb'
