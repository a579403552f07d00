"""`newfilewatch report`: the pure summary over event values, and the command over a real log
written by a running watcher whose hook fails and whose file was quarantined."""
import json
import os

from newfilewatch import formatting, model, report
from tests.support.nfw import WEBSHELL, Runner, write_file
from tests.support.service import program


def _alert(path, owner, rules, when):
    hits = [model.Hit(r, 1, 'x', 'high', 20) for r in rules]
    return json.loads(formatting.event('alert', when, model.finding(
        path, owner=owner, sha256='a' * 64, score=20 * len(rules), suspicious=True, hits=hits)))


def test_ages_and_times():
    assert report.parse_age('24h') == 86400 and report.parse_age('30m') == 1800
    assert report.parse_age('2w') == 14 * 86400 and report.parse_age('3') == 3 * 3600
    assert report.parse_age('all') is None
    for bad in ('yesterday', '-1h', '5y'):
        try:
            report.parse_age(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    when = 1700000000.25
    assert abs(report.parse_time(formatting.iso_time(when)) - when) < 0.001
    assert report.parse_time('garbage') is None and report.parse_time(None) is None


def test_summary_counts_by_rule_owner_directory_and_respects_since():
    now = 1700000000.0
    old = now - 3 * 86400
    events = [
        {'time': formatting.iso_time(old), 'event': 'new_file', 'path': '/w/old.php'},
        _alert('/w/old.php', 'zed', ['r.old'], old),
        {'time': formatting.iso_time(now), 'event': 'new_file', 'path': '/w/a/x.php'},
        {'time': formatting.iso_time(now), 'event': 'new_file', 'path': '/w/a/x.php'},
        {'time': formatting.iso_time(now), 'event': 'new_file', 'path': '/w/b/y.php'},
        _alert('/w/a/x.php', 'alice', ['r.exec', 'r.eval'], now),
        _alert('/w/b/y.php', 'bob', ['r.exec'], now),
        {'time': formatting.iso_time(now), 'event': 'hook', 'path': '/w/a/x.php', 'status': 'ok'},
        {'time': formatting.iso_time(now), 'event': 'hook', 'path': '/w/b/y.php',
         'status': 'timeout', 'result': 'timed out after 5 s', 'output': ['x']},
        {'time': formatting.iso_time(now), 'event': 'quarantined', 'id': 'Q1', 'path': '/w/a/x.php',
         'owner': 'alice', 'sha256': 'a' * 64},
        {'time': formatting.iso_time(now), 'event': 'error', 'message': 'x'},
    ]
    s = report.summarise(events, since=now - 86400)
    assert (s['files_seen'], s['distinct_paths'], s['alerts']) == (3, 2, 2)
    assert s['alerts_by_rule'] == {'r.exec': 2, 'r.eval': 1}
    assert s['alerts_by_owner'] == {'alice': 1, 'bob': 1}
    assert s['alerts_by_directory'] == {'/w/a': 1, '/w/b': 1}
    assert [q['id'] for q in s['quarantined']] == ['Q1']
    assert s['hooks_ok'] == 1 and [h['path'] for h in s['hooks_failed']] == ['/w/b/y.php']
    assert s['errors'] == 1
    everything = report.summarise(events)
    assert everything['alerts'] == 3 and everything['alerts_by_owner']['zed'] == 1
    text = report.as_text(s)
    assert 'alerts:       2' in text and 'timed out after 5 s' in text and 'Q1' in text


def test_report_over_the_log_of_a_running_watcher(tmp_path):
    www = tmp_path / 'www'
    www.mkdir()
    hook = tmp_path / 'fail.sh'
    hook.write_text('#!/bin/sh\necho "chat is down" >&2\nexit 4\n')
    os.chmod(str(hook), 0o755)
    events = str(tmp_path / 'events.jsonl')
    runner = Runner(tmp_path, str(www), extra_config='[hooks]\ncommand = %s\n' % hook)
    try:
        runner.ready()
        write_file(str(www / 'shell.php'), WEBSHELL)
        write_file(str(www / 'fine.php'), b'<?php echo 1;\n')
        runner.events.wait('new_file', str(www / 'fine.php'))
        runner.events.wait('hook', str(www / 'shell.php'))
    finally:
        runner.stop()
    done = program(['report', '--config', runner.config, '--events', events, '--json'])
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary['files_seen'] == 2 and summary['alerts'] == 1
    assert summary['alerts_by_directory'] == {str(www): 1}
    (failed,) = summary['hooks_failed']
    assert failed['result'] == 'exit 4' and failed['output'] == ['chat is down']
    text = program(['report', '--config', runner.config, '--events', events, '--since', '1h'])
    assert text.returncode == 0 and 'hooks:        0 ok, 1 failed' in text.stdout
    none = program(['report', '--config', os.devnull])
    assert none.returncode == 2 and 'events_file' in none.stderr
