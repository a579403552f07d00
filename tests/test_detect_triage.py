"""The C-speed gates: the reversed-name trie matches exactly its words, and the deep rules
are skipped on plain code but not on a shell."""
import re

from newfilewatch.detect import triage
from newfilewatch.detect.phptext import _reversed_trie


def test_reversed_trie_matches_exactly_its_words():
    words = ['eval', 'exec', 'execute', 'system', 'shell_exec', 'e']
    rx = re.compile('(?:%s)$' % _reversed_trie(words))
    for w in words:
        assert rx.match(w), w
    for w in ('ev', 'exe', 'systems', 'shell', ''):
        assert not rx.match(w), w


def test_call_regex_finds_calls_not_methods_or_variables():
    def calls(src):
        return {m.group(1)[::-1].decode() for m in triage._CALL_RE.finditer(src[::-1].lower())}
    assert calls(b'<?php system ($c); EVAL/*x*/($d);') == {'system', 'eval'}
    assert calls(b'<?php $o->system($c); $system($c); Foo::eval($d); mysystem(1);') == set()


def test_deep_look_only_where_something_telling_is_called():
    plain = b'<?php\n' + b'function f($a) { return array_sum($a) * 2; }\n' * 500
    shell = plain + b"@eval($_POST['z']);\n"
    assert triage._worth_deep_look(plain, plain[::-1].lower()) is False
    assert triage._worth_deep_look(shell, shell[::-1].lower()) is True
