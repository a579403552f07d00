"""The byte helpers the rule families share: arguments, comments, literals, excerpts."""
from newfilewatch.detect.phptext import _args, _excerpt, _in_comment, _in_literal, _nth_arg

CODE = b'<?php foo($a, bar(1,2), "x,y"); // eval($x)\n$z = 1;\n'


def test_arguments_split_at_top_level_commas_only():
    args = _args(CODE, CODE.find(b'('))
    assert args == b'$a, bar(1,2), "x,y"'
    assert _nth_arg(args, 1).strip() == b'bar(1,2)'
    assert _nth_arg(args, 2).strip() == b'"x,y"'
    assert _nth_arg(args, 3) is None


def test_comments_and_literals_are_told_from_code():
    assert _in_comment(CODE, CODE.find(b'eval'))
    assert not _in_comment(CODE, CODE.find(b'bar'))
    assert _in_literal(CODE, CODE.find(b'x,y'))
    assert not _in_literal(CODE, CODE.find(b'$z'))


def test_excerpt_is_the_line_around_the_position():
    assert _excerpt(CODE, CODE.find(b'$z')) == '$z = 1;'
    assert _excerpt(CODE, None) == ''
