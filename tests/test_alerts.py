"""AlertDesk against a real SMTP server (aiosmtpd) and real msmtp, with a fake clock.

The clock only decides *when* the worker may send (window, cap, backoff); the SMTP exchange,
the spool files and the worker thread are real.  Every wait is a poll with a deadline.
"""
import logging
import os
import shutil
import stat
import threading

import pytest

from newfilewatch import alerts, escape, model
from tests.support.smtp import (free_port, mail_cfg, smtp_server, wait_until,  # noqa: F401
                                write_msmtprc)

MSMTP = shutil.which('msmtp')
LOG = '/var/log/newfilewatch/newfiles.log'


class FakeClock(object):
    """A clock the test moves by hand; `fail_once` makes the next reading raise (worker crash)."""

    def __init__(self, t=1000000.0):
        self.t = t
        self.fail_once = None
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            exc, self.fail_once = self.fail_once, None
            if exc is not None and threading.current_thread().name == 'newfilewatch-alerts':
                raise exc
            if exc is not None:
                self.fail_once = exc
            return self.t

    def advance(self, seconds):
        with self.lock:
            self.t += seconds


def _finding(n, sha=None, path=None, score=20, **kw):
    return model.finding(path or '/var/www/html/up/shell%d.php' % n, owner='alice', uid=1000, size=100 + n,
                         sha256=sha or ('%064x' % (n + 1)), score=score, suspicious=True,
                         hits=[model.Hit('php-eval-request', n + 1, 'eval($_POST[%d]);' % n, 'high', 20)],
                         **kw)


def _cfg(tmp_path, port, **kw):
    base = dict(to=('admin@example.com',), method='smtp', smtp_host='127.0.0.1', smtp_port=port,
                smtp_timeout=5.0, batch_window=0, max_per_hour=100, dedupe_period=86400,
                spool_dir=str(tmp_path / 'spool'))
    base.update(kw)
    return mail_cfg(**base)


def _desk(cfg, clock, **kw):
    kw.setdefault('poll_interval', 0.02)
    kw.setdefault('retry_base', 30.0)
    return alerts.AlertDesk(cfg, 'web1.example.com', '192.0.2.10', new_files_log=LOG, clock=clock, **kw)


def _spooled(cfg):
    return sorted(n for n in os.listdir(cfg.spool_dir) if n.startswith('alert-'))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def open_desks():
    desks = []
    yield desks
    for d in desks:
        d.close(timeout=5)


def _started(open_desks, cfg, clock, **kw):
    desk = _desk(cfg, clock, **kw).start()
    open_desks.append(desk)
    return desk


def test_one_alert_is_mailed_and_unspooled(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port)
    desk = _started(open_desks, cfg, clock)
    assert desk.add(_finding(1)) is True
    (msg,) = smtp_server.wait_messages(1)
    assert msg['Subject'] == '192.0.2.10 | Found something suspicious'
    body = msg.get_content()
    assert body.startswith('Server: web1.example.com\n')
    assert '/var/www/html/up/shell1.php:2:eval($_POST[1]);' in body.splitlines()
    wait_until(lambda: desk.stats()['sent_mails'] == 1 and not _spooled(cfg), what='spool emptied')
    assert stat.S_IMODE(os.stat(cfg.spool_dir).st_mode) == 0o700
    assert desk.stats()['sent_alerts'] == 1


def test_alert_is_on_disk_when_add_returns(tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, free_port(), batch_window=60)
    desk = _started(open_desks, cfg, clock)
    desk.add(_finding(1, path='/var/www/html/caf\udce9.php'))
    (name,) = _spooled(cfg)
    with open(os.path.join(cfg.spool_dir, name), 'rb') as fh:
        alert = alerts.alert_from_json(fh.read())
    assert alert.finding == _finding(1, path='/var/www/html/caf\udce9.php')


def test_batch_window_makes_one_mail(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port, batch_window=60)
    desk = _started(open_desks, cfg, clock)
    for n in range(3):
        desk.add(_finding(n))
        clock.advance(10)
    desk.kick()
    assert desk.stats()['queued'] == 3
    clock.advance(31)                      # 61 s after the first alert
    desk.kick()
    (msg,) = smtp_server.wait_messages(1)
    body = msg.get_content()
    assert all('/var/www/html/up/shell%d.php:%d:' % (n, n + 1) in body for n in range(3))
    assert '3 suspicious files' in body
    wait_until(lambda: desk.stats()['queued'] == 0)
    assert len(smtp_server.messages()) == 1


def test_hourly_cap_holds_and_summarises(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port, batch_window=10, max_per_hour=2)
    desk = _started(open_desks, cfg, clock, detail_limit=5)
    n = 0
    for mail_no in (1, 2):
        for _ in range(2):
            desk.add(_finding(n))
            n += 1
        clock.advance(11)
        desk.kick()
        smtp_server.wait_messages(mail_no)
    for _ in range(40):                    # a CMS update: many suspicious files at once
        desk.add(_finding(n))
        n += 1
    clock.advance(11)
    desk.kick()
    wait_until(lambda: desk.stats()['deferred'] == 40, what='cap holding 40 alerts')
    assert len(smtp_server.messages()) == 2
    clock.advance(3600)                    # the first mail leaves the rolling hour
    desk.kick()
    msgs = smtp_server.wait_messages(3)
    body = msgs[2].get_content()
    assert body.rstrip().endswith('and 35 more, see %s' % LOG)
    assert body.count('^ php-eval-request') == 5
    wait_until(lambda: desk.stats()['queued'] == 0 and not _spooled(cfg))
    stats = desk.stats()
    assert (stats['sent_mails'], stats['sent_alerts'], stats['deferred']) == (3, 44, 0)
    assert len(smtp_server.messages()) == 3


def test_detail_shows_highest_scores(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port, batch_window=10)
    desk = _started(open_desks, cfg, clock, detail_limit=2)
    for n, score in enumerate((10, 90, 15, 50)):
        desk.add(_finding(n, score=score))
    clock.advance(11)
    desk.kick()
    body = smtp_server.wait_messages(1)[0].get_content()
    assert 'shell1.php' in body and 'shell3.php' in body
    assert 'shell0.php' not in body and 'shell2.php' not in body
    assert 'and 2 more, see ' + LOG in body


def test_same_content_is_alerted_once_even_after_restart(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port, dedupe_period=3600)
    desk = _started(open_desks, cfg, clock)
    assert desk.add(_finding(1, sha='aa' * 32)) is True
    assert desk.add(_finding(2, sha='aa' * 32)) is False
    smtp_server.wait_messages(1)
    wait_until(lambda: desk.stats()['queued'] == 0)
    desk.close()
    assert desk.stats()['suppressed_duplicates'] == 1
    desk2 = _started(open_desks, cfg, clock)
    assert desk2.add(_finding(3, sha='aa' * 32)) is False        # remembered across the restart
    clock.advance(3601)
    assert desk2.add(_finding(4, sha='aa' * 32)) is True         # the period is over
    msgs = smtp_server.wait_messages(2)
    assert 'shell4.php' in msgs[1].get_content()
    assert all('shell2.php' not in m.get_content() and 'shell3.php' not in m.get_content() for m in msgs)


def test_hostile_name_end_to_end(smtp_server, tmp_path, clock, open_desks):
    hostile = '/var/www/html/a\nBcc: victim@example.com\r\nX-Evil: 1\x1b]0;pwn\x07$(reboot)\udcff\udcfe.php'
    cfg = _cfg(tmp_path, smtp_server.port)
    desk = _started(open_desks, cfg, clock)
    desk.add(_finding(1, path=hostile))
    (msg,) = smtp_server.wait_messages(1)
    assert msg['Bcc'] is None and msg['X-Evil'] is None
    assert smtp_server.collector.envelopes[0][1] == ['admin@example.com']
    raw = smtp_server.collector.envelopes[0][2]
    head, sep, _ = raw.partition(b'\r\n\r\n')
    assert sep and b'victim' not in head and b'reboot' not in head and b'\x1b' not in raw
    body = msg.get_content()
    assert '\x1b' not in body and '\x07' not in body and '\r' not in body
    lines = [l for l in body.splitlines() if l.startswith('/var/www/html/a')]
    assert lines == [escape.escape_name(hostile) + ':2:eval($_POST[1]);']
    assert escape.unescape_name(escape.escape_name(hostile)) == hostile


def test_private_finding_has_no_excerpt(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port)
    desk = _started(open_desks, cfg, clock)
    f = _finding(1, path='/home/bob/public_html/shadow.txt', private=True,
                 note='hard link to a file of root')._replace(
        hits=(model.Hit('credential-file', 1, 'root:$6$secrethash', 'high', 20),))
    desk.add(f)
    body = smtp_server.wait_messages(1)[0].get_content()
    assert 'secrethash' not in body
    assert '/home/bob/public_html/shadow.txt:1\n' in body and 'credential-file (high)' in body


def test_server_down_then_restart_delivers_exactly_once(smtp_server, tmp_path, clock, open_desks):
    port = free_port()                     # nothing listens here
    cfg = _cfg(tmp_path, port)
    desk = _started(open_desks, cfg, clock)
    desk.add(_finding(1))
    desk.add(_finding(2))
    wait_until(lambda: desk.stats()['failures'] >= 1, what='a failed send')
    desk.close()
    assert len(_spooled(cfg)) == 2
    up = cfg._replace(smtp_port=smtp_server.port)
    desk2 = _started(open_desks, up, clock)
    msgs = smtp_server.wait_messages(1)
    wait_until(lambda: not _spooled(up), what='spool emptied')
    desk2.close()
    body = msgs[0].get_content()
    assert 'shell1.php' in body and 'shell2.php' in body
    desk3 = _started(open_desks, up, clock)
    assert desk3.stats()['queued'] == 0
    desk3.add(_finding(3))
    smtp_server.wait_messages(2)
    assert 'shell1.php' not in smtp_server.messages()[1].get_content()
    assert len(smtp_server.messages()) == 2


def test_refusal_backs_off_then_delivers_once(smtp_server, tmp_path, clock, open_desks):
    smtp_server.set_reply('451 4.3.0 mailbox busy')
    cfg = _cfg(tmp_path, smtp_server.port)
    desk = _started(open_desks, cfg, clock, retry_base=30.0)
    t0 = clock()
    desk.add(_finding(1))
    wait_until(lambda: desk.stats()['failures'] == 1)
    assert desk.stats()['retry_at'] == t0 + 30
    clock.advance(30)
    desk.kick()
    wait_until(lambda: desk.stats()['failures'] == 2)
    assert desk.stats()['retry_at'] == t0 + 30 + 60        # doubled
    assert desk.stats()['deferred'] == 1 or wait_until(lambda: desk.stats()['deferred'] == 1)
    assert _spooled(cfg) and smtp_server.messages() == []
    smtp_server.set_reply(None)
    clock.advance(60)
    desk.kick()
    smtp_server.wait_messages(1)
    wait_until(lambda: not _spooled(cfg))
    assert desk.stats()['retry_at'] == 0
    assert smtp_server.collector.attempts == 3 and len(smtp_server.messages()) == 1


def test_accepted_but_not_deleted_is_not_resent(smtp_server, tmp_path, clock, open_desks):
    """The crash window between 'server accepted' and 'spool file deleted'."""
    smtp_server.set_reply('451 later')
    cfg = _cfg(tmp_path, smtp_server.port)
    desk = _started(open_desks, cfg, clock)
    desk.add(_finding(1))
    wait_until(lambda: desk.stats()['failures'] == 1)
    (name,) = _spooled(cfg)
    with open(os.path.join(cfg.spool_dir, name), 'rb') as fh:
        saved = fh.read()
    smtp_server.set_reply(None)
    clock.advance(30)
    desk.kick()
    smtp_server.wait_messages(1)
    wait_until(lambda: not _spooled(cfg))
    desk.close()
    with open(os.path.join(cfg.spool_dir, name), 'wb') as fh:    # as if the delete never happened
        fh.write(saved)
    desk2 = _started(open_desks, cfg, clock)
    assert desk2.stats()['queued'] == 0 and not _spooled(cfg)
    desk2.add(_finding(2))
    smtp_server.wait_messages(2)
    assert 'shell1.php' not in smtp_server.messages()[1].get_content()


def test_cap_survives_restart(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port, max_per_hour=1)
    desk = _started(open_desks, cfg, clock)
    desk.add(_finding(1))
    smtp_server.wait_messages(1)
    wait_until(lambda: desk.stats()['queued'] == 0)
    desk.close()
    desk2 = _started(open_desks, cfg, clock)
    desk2.add(_finding(2))
    wait_until(lambda: desk2.stats()['deferred'] == 1, what='cap remembered across restart')
    clock.advance(3600)
    desk2.kick()
    smtp_server.wait_messages(2)


def test_unwritable_spool_keeps_alerts_in_memory(smtp_server, tmp_path, clock, open_desks, caplog):
    blocker = tmp_path / 'file'
    blocker.write_text('not a dir')
    cfg = _cfg(tmp_path, smtp_server.port, spool_dir=str(blocker / 'spool'))
    with caplog.at_level(logging.ERROR, logger='newfilewatch.alerts'):
        desk = _started(open_desks, cfg, clock)
        desk.add(_finding(1))
        smtp_server.wait_messages(1)
    assert any('in memory only' in r.getMessage() and str(blocker / 'spool') in r.getMessage()
               for r in caplog.records)
    wait_until(lambda: desk.stats()['queued'] == 0)


@pytest.mark.filterwarnings('ignore::pytest.PytestUnhandledThreadExceptionWarning')
def test_worker_survives_crash_and_death(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port)
    desk = _started(open_desks, cfg, clock)
    clock.fail_once = RuntimeError('boom')      # an unexpected exception inside the worker loop
    desk.kick()
    wait_until(lambda: desk.stats()['worker_restarts'] == 1)
    desk.add(_finding(1))
    smtp_server.wait_messages(1)
    clock.fail_once = SystemExit()              # kills the thread outright
    desk.kick()
    wait_until(lambda: not desk._thread.is_alive(), what='worker thread dead')
    desk.add(_finding(2))                       # add() notices and starts a new worker
    smtp_server.wait_messages(2)
    assert desk.stats()['worker_restarts'] == 2


def test_unexpected_send_error_keeps_alert(smtp_server, tmp_path, clock, open_desks):
    from newfilewatch import mailer
    calls = []

    def flaky_send(message, cfg):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError('bug in a route')
        return mailer.send(message, cfg)

    cfg = _cfg(tmp_path, smtp_server.port)
    desk = _started(open_desks, cfg, clock, send=flaky_send)
    desk.add(_finding(1))
    wait_until(lambda: desk.stats()['failures'] == 1)
    assert len(_spooled(cfg)) == 1
    clock.advance(30)
    desk.kick()
    smtp_server.wait_messages(1)


def test_close_flush_sends_what_the_window_holds(smtp_server, tmp_path, clock, open_desks):
    cfg = _cfg(tmp_path, smtp_server.port, batch_window=600)
    desk = _desk(cfg, clock).start()
    desk.add(_finding(1))
    desk.close(timeout=10, flush=True)
    assert len(smtp_server.messages()) == 1 and not _spooled(cfg)


@pytest.mark.skipif(not MSMTP, reason='msmtp (Debian msmtp-mta) not installed')
def test_sendmail_route_failing_then_msmtp(smtp_server, tmp_path, clock, open_desks):
    failing = _cfg(tmp_path, 0, method='sendmail', sendmail="/bin/sh -c 'cat >/dev/null; exit 75'")
    desk = _started(open_desks, failing, clock)
    desk.add(_finding(1))
    wait_until(lambda: desk.stats()['failures'] == 1)
    desk.close()
    assert len(_spooled(failing)) == 1
    rc = write_msmtprc(str(tmp_path / 'msmtprc'), smtp_server.port)
    good = failing._replace(sendmail='%s -C %s -t -oi' % (MSMTP, rc))
    desk2 = _started(open_desks, good, clock)
    msg = smtp_server.wait_messages(1)[0]
    assert msg['Subject'] == '192.0.2.10 | Found something suspicious'
    assert 'shell1.php' in msg.get_content()
    wait_until(lambda: not _spooled(good))
    desk2.add(_finding(2))
    smtp_server.wait_messages(2)
    assert len(smtp_server.messages()) == 2


def test_send_test_reports_reason(smtp_server):
    cfg = mail_cfg(to=('admin@example.com',), method='smtp', smtp_host='127.0.0.1',
                   smtp_port=smtp_server.port, smtp_timeout=5.0)
    alerts.send_test(cfg, 'web1', '192.0.2.10')
    assert smtp_server.wait_messages(1)[0]['Subject'].endswith('(test)')
    with pytest.raises(alerts.AlertError, match='connection refused'):
        alerts.send_test(cfg._replace(smtp_port=free_port()), 'web1', '192.0.2.10')
    with pytest.raises(alerts.AlertError, match='mail is off'):
        alerts.send_test(cfg._replace(to=()), 'web1', '192.0.2.10')


def test_pure_scheduling():
    now = 10000.0
    assert alerts.send_at(now, now, [], 60, 2, 0) == (now + 60, 'window')
    assert alerts.send_at(now, now, [], 60, 2, 0, flush=True) == (0, 'retry')
    assert alerts.send_at(now, now - 100, [now - 3000, now - 10], 60, 2, 0) == (now + 600, 'cap')
    assert alerts.send_at(now, now - 100, [now - 4000, now - 10], 60, 2, 0)[0] <= now
    assert alerts.send_at(now, now - 100, [], 60, 2, now + 5) == (now + 5, 'retry')
    assert [alerts.backoff(i, 30, 3600) for i in (1, 2, 3, 8, 50)] == [30, 60, 120, 3600, 3600]


def test_host_and_ip():
    host, ip = alerts.host_and_ip()
    assert host and ip.count('.') == 3


def test_two_desks_on_one_spool_do_not_both_send(smtp_server, tmp_path, clock, open_desks):
    """A config reload can leave the old desk's worker sending while the new desk has loaded the spool."""
    smtp_server.set_reply('451 later')
    cfg = _cfg(tmp_path, smtp_server.port)
    old = _started(open_desks, cfg, clock, retry_base=30.0)
    old.add(_finding(1))
    wait_until(lambda: old.stats()['failures'] == 1)
    new = _started(open_desks, cfg, clock, retry_base=10000.0)
    assert new.stats()['queued'] == 1
    wait_until(lambda: new.stats()['failures'] == 1)
    smtp_server.set_reply(None)
    clock.advance(30)
    old.kick()
    smtp_server.wait_messages(1)
    wait_until(lambda: old.stats()['queued'] == 0)
    clock.advance(10000)
    new.kick()
    wait_until(lambda: new.stats()['queued'] == 0, what='new desk dropping the alert the old one sent')
    assert len(smtp_server.messages()) == 1 and smtp_server.collector.attempts == 3


def test_flood_while_route_is_down_is_bounded(smtp_server, tmp_path, clock, open_desks):
    smtp_server.set_reply('451 later')
    cfg = _cfg(tmp_path, smtp_server.port)
    desk = _started(open_desks, cfg, clock, max_pending=3, detail_limit=10)
    for n in range(7):
        assert desk.add(_finding(n)) is True
    wait_until(lambda: desk.stats()['failures'] >= 1)
    stats = desk.stats()
    assert (stats['queued'], stats['overflow']) == (3, 4)
    assert len(_spooled(cfg)) == 3
    smtp_server.set_reply(None)
    clock.advance(30)
    desk.kick()
    body = smtp_server.wait_messages(1)[0].get_content()
    assert body.rstrip().endswith('and 4 more, see ' + LOG)
    assert '7 suspicious files' in body
    wait_until(lambda: desk.stats()['sent_alerts'] == 7)
    assert desk.stats()['overflow'] == 0


def test_cms_update_of_500_files_makes_a_handful_of_mails(smtp_server, tmp_path, clock, open_desks):
    """Built-in defaults (60 s window, 12 mails/hour): 500 suspicious files written over 2 minutes."""
    cfg = _cfg(tmp_path, smtp_server.port, batch_window=60, max_per_hour=12)
    desk = _started(open_desks, cfg, clock)
    for n in range(500):
        desk.add(_finding(n))
        clock.advance(0.24)
    clock.advance(61)
    desk.kick()
    wait_until(lambda: desk.stats()['queued'] == 0, timeout=30, what='all 500 alerts mailed')
    msgs = smtp_server.messages()
    assert 1 <= len(msgs) <= 3
    assert desk.stats()['sent_alerts'] == 500
    assert all(m.get_content().count('^ php-eval-request') <= alerts.DETAIL_LIMIT for m in msgs)
    assert 'more, see ' + LOG in msgs[-1].get_content()


def test_a_dripping_server_keeps_the_alert_spooled_until_a_good_one_takes_it_once(
        tmp_path, clock, open_desks):
    """Issue 15: an SMTP server that drips one byte at a time held the worker forever.  Now the
    delivery gives up at its total deadline, the alert stays in the spool, and once a working
    server listens on that port the alert is mailed exactly once."""
    from tests.support.smtp import DripServer, SMTPServer
    good = SMTPServer()                                   # its port, not listening yet
    drip = DripServer(port=good.port, interval=0.2).start()
    try:
        cfg = _cfg(tmp_path, good.port, smtp_timeout=1.0)
        desk = _started(open_desks, cfg, clock, retry_base=30.0)
        desk.add(_finding(1))
        wait_until(lambda: desk.stats()['failures'] >= 1, timeout=20, what='the deadline')
        assert drip.accepted >= 1 and len(_spooled(cfg)) == 1
    finally:
        drip.stop()
    good.start()
    try:
        clock.advance(30)
        desk.kick()
        msgs = good.wait_messages(1, timeout=20)
        wait_until(lambda: not _spooled(cfg), what='the spool emptied')
        assert 'shell1.php' in msgs[0].get_content()
        clock.advance(3600)
        desk.kick()
        desk.close(timeout=5)
        assert len(good.messages()) == 1
    finally:
        good.stop()


def test_spooled_alert_keeps_its_writer():
    w = model.Writer(4711, 'php-fpm', 1001, 'alice', 'shop')
    f = model.finding('/srv/a.php', sha256='ab' * 32, score=20, suspicious=True, writer=w)
    back = alerts.alert_from_json(alerts.alert_to_json(alerts.Alert('1', f, 1.0, 'k', 1)))
    assert back.finding.writer == w
