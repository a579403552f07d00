"""The pipeline: dedupe of repeats, one bad file never stops the rest, allowlist by path."""
import collections
import os

from newfilewatch.model import Candidate, Hit
from newfilewatch.pipeline import Pipeline
from newfilewatch.rules import PathRules
from newfilewatch.scanner import Scanner

Verdict = collections.namedtuple('Verdict', 'score suspicious hits')


class Engine(object):
    """A stand-in rule engine (the real one is tested in test_engine): b'EVIL' is bad,
    b'CRASH' raises, to prove an exception in one file's handling is contained."""

    def analyse(self, data, name):
        if b'CRASH' in data:
            raise RuntimeError('engine bug')
        bad = b'EVIL' in data
        return Verdict(10 if bad else 0, bad, (Hit('t', 1, 'EVIL', 'high', 10),) if bad else ())


class Sinks(object):
    def __init__(self):
        self.new, self.alerts = [], []

    def new_file(self, finding, candidate):
        self.new.append(finding.path)

    def alert(self, finding, candidate):
        self.alerts.append(finding.path)


def make(allow=()):
    sinks = Sinks()
    return Pipeline(Scanner(Engine()), PathRules(allow=allow), sinks), sinks


def test_repeats_of_the_same_file_state_are_handled_once(tmp_path):
    p, sinks = make()
    f = tmp_path / 'a.php'
    f.write_bytes(b'EVIL')
    for synthetic in (True, False, True):
        p.offer(Candidate(str(f), synthetic, 'x'))
    p.drain()
    p.offer(Candidate(str(f), False, 'again'))        # same inode, ctime, size: a repeat
    p.drain()
    assert sinks.new == [str(f)] and sinks.alerts == [str(f)]
    f.write_bytes(b'EVIL, changed')                   # new content is a new event
    p.offer(Candidate(str(f), False, 'changed'))
    p.drain()
    assert sinks.alerts == [str(f), str(f)]


def test_an_exception_in_one_file_is_counted_and_the_rest_go_on(tmp_path, caplog):
    p, sinks = make()
    (tmp_path / 'crash.php').write_bytes(b'CRASH')
    (tmp_path / 'next.php').write_bytes(b'EVIL')
    p.offer(Candidate(str(tmp_path / 'crash.php'), False, 'x'))
    p.offer(Candidate(str(tmp_path / 'next.php'), False, 'x'))
    p.drain()
    assert p.counts['errors'] == 1
    assert sinks.alerts == [str(tmp_path / 'next.php')]
    assert 'crash.php' in caplog.text


def test_deleted_before_its_turn_is_dropped_quietly(tmp_path):
    p, sinks = make()
    p.offer(Candidate(str(tmp_path / 'gone.php'), False, 'x'))
    p.drain()
    assert sinks.new == [] and p.counts['gone'] == 1


def test_allowlisted_path_is_logged_not_alerted(tmp_path):
    p, sinks = make(allow=('*/vendor/*',))
    (tmp_path / 'vendor').mkdir()
    (tmp_path / 'vendor' / 'x.php').write_bytes(b'EVIL')
    p.offer(Candidate(str(tmp_path / 'vendor' / 'x.php'), False, 'x'))
    p.drain()
    assert sinks.new == [str(tmp_path / 'vendor' / 'x.php')] and sinks.alerts == []


def test_drain_stops_at_its_time_budget_and_keeps_the_rest(tmp_path):
    clock = iter(range(0, 10 ** 6, 10)).__next__      # every look at the clock: 10 s later
    sinks = Sinks()
    p = Pipeline(Scanner(Engine()), PathRules(), sinks, clock=lambda: clock())
    for i in range(40):
        (tmp_path / ('f%d.php' % i)).write_bytes(b'ok')
        p.offer(Candidate(str(tmp_path / ('f%d.php' % i)), False, 'x'))
    assert p.drain(budget=1) == 16 and len(p) == 24


def test_the_oldest_queued_file_bounds_the_catch_up_time(tmp_path):
    """Issue 15: what a stop leaves queued is caught up by the next start, from its floor."""
    clock = [1000.0]
    p = Pipeline(Scanner(Engine()), PathRules(), Sinks(), clock=lambda: clock[0])
    assert p.oldest() is None
    for name in ('a.php', 'b.php'):
        (tmp_path / name).write_bytes(b'<?php echo 1;')
    p.offer(Candidate(str(tmp_path / 'a.php'), True, 'catch-up'), floor=500.0)
    clock[0] = 1001.0
    p.offer(Candidate(str(tmp_path / 'b.php'), False, 'close_write'))
    assert p.oldest() == 500.0
    p.drain()
    assert p.oldest() is None


def test_a_file_the_new_files_log_did_not_take_holds_the_catch_up_time(tmp_path):
    """Issue 11: the catch-up time advanced past files that were never logged.  A real
    new-files log whose reopen fails (a dir planted at its path after rotation)."""
    from newfilewatch.sinks import LineFile, Outputs
    log_path = str(tmp_path / 'newfiles.log')
    outputs = Outputs(new_files=LineFile(log_path))
    clock = [1000.0]
    p = Pipeline(Scanner(Engine()), PathRules(), outputs, clock=lambda: clock[0])
    (tmp_path / 'one.php').write_bytes(b'<?php echo 1;')
    p.offer(Candidate(str(tmp_path / 'one.php'), False, 'close_write'))
    p.drain()
    assert p.oldest() is None and 'one.php' in open(log_path).read()
    os.rename(log_path, log_path + '.1')
    os.mkdir(log_path)                              # rotated, and the new file cannot be made
    outputs.reopen()
    clock[0] = 2000.0
    (tmp_path / 'two.php').write_bytes(b'<?php echo 2;')
    p.offer(Candidate(str(tmp_path / 'two.php'), False, 'close_write'))
    clock[0] = 2500.0
    p.drain()
    assert p.oldest() == 2000.0                     # held at the unlogged file, not advanced


def test_the_candidates_writer_reaches_the_finding(tmp_path):
    from newfilewatch.model import Writer
    got = []

    class Keep(Sinks):
        def new_file(self, finding, candidate):
            got.append(finding)
    p = Pipeline(Scanner(Engine()), PathRules(), Keep())
    f = tmp_path / 'w.php'
    f.write_bytes(b'<?php')
    w = Writer(1, 'init', 0, 'root', '')
    p.offer(Candidate(str(f), False, 'close_write', w))
    g = tmp_path / 'n.php'
    g.write_bytes(b'<?php')
    p.offer(Candidate(str(g), False, 'close_write'))          # inotify: no writer
    p.drain()
    assert [x.writer for x in got] == [w, None]
