"""Log line, JSON event and console text: pure functions over plain values."""
import json
import re

from newfilewatch import formatting
from newfilewatch.model import Hit, finding

F = finding('/srv/www/a\nb\xff.php'.encode('latin-1').decode('utf-8', 'surrogateescape'),
            owner='bob', size=12, sha256='ab' * 32, score=15, suspicious=True, time=1e9,
            hits=[Hit('php.exec.request_input', 3, 'system($_GET["c"]);\x1b[2J', 'critical', 15)])


def test_new_file_line_is_the_classic_format_on_one_line():
    line = formatting.new_file_line(F)
    assert re.match(r'^\d{4}-\d\d-\d\d \d\d:\d\d >> /srv/www/a\\nb\\xff\.php \| bob$', line)


def test_new_file_line_names_kinds_other_than_file():
    assert formatting.new_file_line(F._replace(kind='symlink')).endswith(' | bob | symlink')


def test_event_is_json_with_escaped_path_and_hits():
    record = json.loads(formatting.event('alert', 1e9, F, synthetic=True))
    assert record['event'] == 'alert' and record['synthetic'] is True
    assert record['path'] == '/srv/www/a\\nb\\xff.php'
    assert record['hits'][0]['line'] == 3 and '\\x1b' in record['hits'][0]['text']
    assert record['time'].startswith('2001-09-09T')


def test_private_findings_never_carry_content():
    private = F._replace(private=True)
    assert json.loads(formatting.event('alert', 1e9, private))['hits'][0]['text'] == ''
    assert 'system(' not in formatting.console_alert(private)


def test_scan_line_starts_with_the_path():
    assert formatting.scan_line(F) == '/srv/www/a\\nb\\xff.php: php.exec.request_input'


def test_a_note_quoting_a_hostile_symlink_target_stays_one_escaped_line():
    note = 'symlink to /x\n{"event": "forged"}\udcff, not followed'
    record = json.loads(formatting.event('new_file', 1e9, F._replace(note=note)))
    assert record['note'] == 'symlink to /x\\n{"event": "forged"}\\xff, not followed'


def test_event_names_the_writer_escaped_or_says_there_is_none():
    from newfilewatch.model import Writer
    hostile = F._replace(writer=Writer(77, 'ev\x1bil', 1001, 'alice', 'shop'))
    rec = json.loads(formatting.event('alert', 1e9, hostile, writer=formatting.writer_json(hostile)))
    assert rec['writer'] == {'pid': 77, 'comm': 'ev\\x1bil', 'uid': 1001, 'user': 'alice',
                             'pool': 'shop'}
    assert formatting.writer_json(F).startswith('none (inotify')
    assert 'writer' not in json.loads(formatting.event('alert', 1e9, F))     # `scan --json`
    assert 'writer: pid 77 ev\\x1bil uid 1001 (alice) pool shop' in formatting.console_alert(hostile)
    # the classic line is unchanged by a writer
    assert formatting.new_file_line(hostile) == formatting.new_file_line(F)


def test_alert_event_and_console_carry_the_quarantine_command():
    record = json.loads(formatting.event('alert', 1e9, F))
    assert record['quarantine'] == formatting.quarantine_command(F)
    assert '--escaped' in record['quarantine'] and '\n' not in record['quarantine']
    assert formatting.console_alert(F).splitlines()[-1] == '  quarantine: ' + record['quarantine']
    assert 'quarantine' not in json.loads(formatting.event('new_file', 1e9, F))


def test_scan_result_line_carries_score_and_sha256_for_the_allowlist():
    assert formatting.scan_result_line(F) == ('/srv/www/a\\nb\\xff.php: php.exec.request_input '
                                              '(score 15) sha256=' + 'ab' * 32)
    clean = F._replace(suspicious=False, hits=())
    assert formatting.scan_result_line(clean) == '/srv/www/a\\nb\\xff.php: OK'
    good = clean._replace(known_good=True, note='known good: WordPress 6.4.2 (en_US)')
    assert formatting.scan_result_line(good).endswith(': OK (known good: WordPress 6.4.2 (en_US))')


def test_scan_hit_lines_are_path_line_excerpt_then_the_rule():
    assert formatting.scan_hit_lines(F) == [
        '/srv/www/a\\nb\\xff.php:3:system($_GET["c"]);\\x1b[2J',
        '  ^ php.exec.request_input (critical)']
    assert formatting.scan_hit_lines(F._replace(private=True))[0].endswith('.php:3:')
