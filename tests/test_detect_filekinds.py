"""Files that must not hold code: the kind comes from the name, config files and images."""
import pytest

from newfilewatch.detect.engine import Engine
from newfilewatch.detect.filekinds import _kind


@pytest.fixture(scope='module')
def eng():
    return Engine()


def hits(verdict):
    return sorted((h.rule, h.weight) for h in verdict.hits)


@pytest.mark.parametrize('name,kind', [
    ('/srv/www/.htaccess', 'config'), ('x.user.ini', 'config'), ('up/A.JPG', 'image'),
    ('a.php5', 'php'), ('a.pl', 'cgi'), ('a.aspx', 'asp'), ('a.jsp', 'jsp'), ('a.txt', 'text'),
    ('Makefile', 'other')])
def test_kind_comes_from_the_name(name, kind):
    assert _kind(name)[0] == kind


def test_prepending_an_odd_file_weighs_more_than_a_site_script(eng):
    odd = eng.analyse(b'php_value auto_prepend_file /tmp/x.jpg\n', '.htaccess')
    site = eng.analyse(b'php_value auto_prepend_file /srv/www/prepend.php\n', '.htaccess')
    assert hits(odd) == [('htaccess.auto_prepend', 12)] and odd.suspicious
    assert hits(site) == [('htaccess.auto_prepend', 8)] and not site.suspicious


def test_code_in_an_image_but_not_binary_noise(eng):
    gif = b'GIF89a\x01\x00\x01\x00' + b'\x00' * 32 + b'<?php system($_GET["c"]); ?>'
    assert 'file.code_in_image' in {h.rule for h in eng.analyse(gif, 'a.gif').hits}
    noise = b'\x89PNG\r\n\x1a\n' + bytes(range(256)) + b'<?\x00\x01\x02\xff\xfe' * 8
    assert not eng.analyse(noise, 'a.png').hits
