"""Writer attribution: pure parsing of /proc text, then a real process of a throw-away user."""
import os

from newfilewatch import writer
from newfilewatch.model import Writer
from tests.support.service import needs_root, temp_user
from tests.support.wait import wait_until
from tests.support.writers import Writer as WriterProcess


def test_pool_of_php_fpm_titles():
    assert writer.pool_of(b'php-fpm: pool www                \0\0\0') == 'www'
    assert writer.pool_of(b'php-fpm8.2: pool alice_example\0') == 'alice_example'
    assert writer.pool_of(b'php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)') == ''
    assert writer.pool_of(b'/usr/bin/php\0-f\0x.php\0') == ''
    assert writer.pool_of(b'') == ''


def test_effective_uid_is_the_second_uid_field():
    assert writer.effective_uid('Name:\tx\nUid:\t1000\t1001\t1001\t1001\n') == 1001
    assert writer.effective_uid('Name:\tx\n') == -1


def test_describe_escapes_hostile_comm_and_pool():
    w = Writer(12, 'ev\x1b[31mil\nX', 1001, 'alice', 'po\rol')
    text = writer.describe(w)
    assert text == 'pid 12 ev\\x1b[31mil\\nX uid 1001 (alice) pool po\\rol'
    assert writer.as_json(w)['comm'] == 'ev\\x1b[31mil\\nX'
    assert writer.describe(None) == writer.NO_WRITER and 'inotify' in writer.NO_WRITER
    assert writer.describe(Writer(99, 'unknown', -1, 'unknown', '')).startswith('unknown')


def test_a_gone_process_is_unknown():
    assert writer.from_proc(0).comm == 'unknown'
    assert writer.from_proc(2 ** 22 + 12345).uid == -1       # above pid_max: never a process


def test_cache_answers_a_burst_with_one_read(tmp_path):
    w = writer.Writers()
    first = w.get(os.getpid(), 100.0)
    assert first.pid == os.getpid() and first.uid == os.geteuid()
    w.proc = str(tmp_path)                   # nothing there: only the cache can answer
    assert w.get(os.getpid(), 100.5) is first
    assert w.get(os.getpid(), 102.0).comm == 'unknown'


@needs_root
def test_a_real_php_fpm_like_process_of_a_throwaway_user(tmp_path):
    with temp_user() as user:
        proc = WriterProcess(user, 'true', argv0='php-fpm: pool shop', comm=b'php-fpm\x1bx\n')
        try:
            got = wait_until(lambda: writer.from_proc(proc.pid).pool and writer.from_proc(proc.pid),
                             10, what='the writer in /proc')
            assert got == Writer(proc.pid, 'php-fpm\x1bx\n', user.uid, user.name, 'shop')
            assert '\x1b' not in writer.describe(got) and '\n' not in writer.describe(got)
        finally:
            proc.done()
