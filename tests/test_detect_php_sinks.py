"""Request input reaching sinks: the weaker and stronger forms weigh what the table says."""
import pytest

from newfilewatch.detect.engine import Engine


@pytest.fixture(scope='module')
def eng():
    return Engine()


def weights_of(verdict, rule):
    return sorted(h.weight for h in verdict.hits if h.rule == rule)


def test_preg_replace_e_literal_template_versus_code(eng):
    lit = eng.analyse(b"<?php preg_replace('/.*/e', 'strtoupper(\"\\\\1\")', $s);", 'p.php')
    code = eng.analyse(b"<?php preg_replace('/.*/e', $code, $s);", 'p.php')
    assert weights_of(lit, 'php.preg_replace.eval_modifier') == [6] and not lit.suspicious
    assert weights_of(code, 'php.preg_replace.eval_modifier') == [12] and code.suspicious


def test_mail_relay_counts_on_top_of_request_recipients(eng):
    relay = eng.analyse(b"<?php mail($_POST['to'], $_POST['s'], $_POST['b'], "
                        b"'From: ' . $_POST['from']);", 'm.php')
    form = eng.analyse(b"<?php mail('me@example.org', 'contact', $_POST['b']);", 'm.php')
    assert weights_of(relay, 'php.mailer.request_recipients') == [4, 7] and relay.suspicious
    assert weights_of(form, 'php.mailer.request_recipients') == [7] and not form.suspicious


def test_upload_path_in_a_cookie_is_the_hidden_variant(eng):
    v = eng.analyse(b"<?php move_uploaded_file($_FILES['f']['tmp_name'], $_COOKIE['p']);", 'u.php')
    assert weights_of(v, 'php.write.request_path') == [4, 8]


def test_three_command_functions_with_different_commands_weigh_less(eng):
    same = eng.analyse(b"<?php $c = $argv[1]; exec($c); system($c); passthru($c);", 'e.php')
    differ = eng.analyse(b"<?php exec('a'); system('b'); passthru('c');", 'e.php')
    assert weights_of(same, 'php.exec.many_methods') == [8]
    assert weights_of(differ, 'php.exec.many_methods') == [4]
