"""The PHP lexer: token classes as PHP has them, whatever the spelling, and total on junk."""
from hypothesis import given, settings, strategies as st

from newfilewatch.detect import lexer


def kinds(src):
    return [(k, v) for k, v, _ in lexer.tokenize(src)]


def test_comments_vanish_and_strings_resolve_escapes():
    toks = kinds(b'<?php $f = "\\x73y" /* x */ . \'st\' # c\n . "\\145m";')
    assert ('S', b'sy') in toks and ('S', b'st') in toks and ('S', b'em') in toks
    assert not any(v == b'x' for k, v in toks)


def test_html_mode_and_short_echo():
    toks = kinds(b'<p>hi</p><?= $x ?><b><?php echo 1;')
    assert toks[0] == ('H', b'<p>hi</p>')
    assert ('I', b'echo') in toks and ('V', b'x') in toks and ('H', b'<b>') in toks


def test_interpolation_keeps_variables():
    toks = kinds(b'<?php echo "run $cmd now {$a[\'b\']} \\$not";')
    t = [v for k, v in toks if k == 'T'][0]
    assert ('$', b'cmd') in t and ('$', b'a') in t
    assert b' $not' in t[-1]


def test_heredoc_and_nowdoc():
    toks = kinds(b"<?php $a = <<<EOT\nx $v\nEOT;\n$b = <<<'N'\nraw $v\nN;\n$c = 1;")
    assert ('T', (b'x ', ('$', b'v'))) in toks
    assert ('S', b'raw $v') in toks
    assert ('V', b'c') in toks


def test_backticks_are_commands():
    toks = kinds(b'<?php $o = `ls $d`;')
    assert ('B', (b'ls ', ('$', b'd'))) in toks


def test_line_comment_ends_at_close_tag():
    toks = kinds(b'<?php // note ?> after <?php $z;')
    assert ('H', b' after ') in toks and ('V', b'z') in toks


def test_unterminated_string_and_comment_run_to_the_end():
    assert kinds(b'<?php $a = "abc')[-1][0] == 'S'
    assert kinds(b'<?php $a = 1; /* never closed') == [('V', b'a'), ('O', b'='), ('N', 1), ('O', b';')]


def test_inline_comments_between_operands_are_counted():
    stats = lexer.Stats()
    lexer.tokenize(b"<?php $a = 'sy' /*1*/ . /*2*/ 'st' /*3*/ . 'em';\n/* banner */\n", stats)
    assert stats.comments_inline == 3


def test_escape_density_counts_printable_escapes_only():
    stats = lexer.Stats()
    lexer.tokenize(b'<?php $a = "\\x73\\x79\\163\\xff\\x00";', stats)
    assert stats.escapes == 3


def test_token_limit_is_respected():
    toks = lexer.tokenize(b'<?php ' + b'$a;' * 10000, limit=100)
    assert len(toks) == 100


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_total_on_any_bytes(blob):
    toks = lexer.tokenize(b'<?php ' + blob)
    assert all(t[2] <= len(blob) + 6 for t in toks)


def test_halt_compiler_ends_the_code():
    toks = kinds(b'<?php $a = 1; __halt_compiler(); $_GET["x"]($_POST) \x00\xff')
    assert ('V', b'_GET') not in toks and toks[-1] == ('O', b';')
