"""The man pages: generated from the parser and the configspec (tools/manpages.py), so every
command and every key is in them; committed, so they must be regenerated (`make man`) when
either changes."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from newfilewatch.cli import build_parser
from tests.support.nfw import ROOT

sys.path.insert(0, os.path.join(ROOT, 'tools'))
import manpages  # noqa: E402

MAN = os.path.join(ROOT, 'man')


def _read(*parts):
    with open(os.path.join(ROOT, *parts)) as fh:
        return fh.read()


def test_committed_pages_are_up_to_date():
    for name, text in manpages.render_all().items():
        assert _read('man', name) == text, '%s is stale: run `make man`' % name


def test_every_command_is_in_newfilewatch_8():
    page = _read('man', 'newfilewatch.8')
    names = [name for name, _, _ in manpages._subcommands(build_parser())]
    assert {'run', 'start', 'stop', 'status', 'reload', 'scan', 'check-config',
            'tune-sysctl'} <= set(names)
    for name in names:
        assert '.SS %s\n' % manpages.roff(name) in page, name
    for section in ('EXIT STATUS', 'SIGNALS', 'FILES'):
        assert '.SH %s\n' % section in page
    for signame in ('SIGHUP', 'SIGUSR1', 'SIGTERM'):
        assert signame in page


def test_every_spec_key_is_in_newfilewatch_conf_5():
    page = _read('man', 'newfilewatch.conf.5')
    spec = manpages.parse_spec(_read('newfilewatch', 'configspec.ini'))
    assert len(spec) >= 5
    for section, keys in spec:
        assert '.SH [%s]' % manpages.roff(section).upper() in page
        for key, _ in keys:
            assert '.TP\n\\fB%s\\fR = ' % manpages.roff(key) in page, (section, key)


def test_each_key_has_the_shipped_comment():
    comments = manpages.parse_conf_comments(_read('etc', 'newfilewatch.conf'))
    assert comments[('watch', 'dirs')].startswith('Directories to watch')
    assert comments[('mail', 'to')].startswith('Who gets alert mail')
    assert comments[('mail', 'smtp_port')] == comments[('mail', 'method')]   # one paragraph
    spec = manpages.parse_spec(_read('newfilewatch', 'configspec.ini'))
    missing = [(s, k) for s, keys in spec for k, _ in keys if not comments.get((s, k))]
    assert not missing


def test_describe_check():
    assert manpages.describe_check('integer(min=5, max=86400, default=300)') == \
        ('integer min=5, max=86400', '300')
    assert manpages.describe_check("force_list(default=list('a', 'b'))") == ('list', 'a, b')
    assert manpages.describe_check("string(default='')") == ('string', '(empty)')
    assert manpages.describe_check("option('x', 'y', default='x')") == ('one of x, y', 'x')


def test_roff_escapes():
    assert manpages.roff('.start\n-x \\n') == '\\&.start\n\\-x \\en'


@pytest.mark.skipif(not shutil.which('man'), reason='needs man (man-db)')
def test_man_renders_without_warnings():
    for name in ('newfilewatch.8', 'newfilewatch.conf.5'):
        done = subprocess.run(['man', '--warnings', '-l', os.path.join(MAN, name)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60, env=dict(os.environ,
                                                                           MANWIDTH='80'))
        assert done.returncode == 0 and not done.stderr.strip(), done.stderr
        assert re.search(r'NEWFILEWATCH', done.stdout)


def test_synopsis_is_the_same_on_every_python():
    import argparse
    parser = argparse.ArgumentParser(prog='x')
    parser.add_argument('--config', '-c', metavar='FILE')
    parser.add_argument('--watch', '-w', metavar='DIR', action='append')
    parser.add_argument('--json', action='store_true')
    parser.add_argument('paths', nargs='*', metavar='PATH')
    assert manpages.synopsis('scan', parser) == \
        'newfilewatch scan [--config FILE] [--watch DIR]... [--json] [PATH...]'
