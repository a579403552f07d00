"""mailer against real routes: aiosmtpd over SMTP, and msmtp's /usr/sbin/sendmail relaying to it."""
import os
import shutil

import pytest

from newfilewatch import mailer, mailfmt, model
from tests.support.smtp import free_port, mail_cfg, smtp_server, write_msmtprc  # noqa: F401

MSMTP = shutil.which('msmtp')
needs_msmtp = pytest.mark.skipif(not MSMTP, reason='msmtp (Debian msmtp-mta) not installed')


def _message(cfg):
    f = model.finding('/var/www/html/x.php', owner='alice', size=10, sha256='cd' * 32, score=20,
                      suspicious=True, hits=[model.Hit('php-eval-request', 1, 'eval($_POST[1])', 'high', 20)])
    return mailfmt.render([f], cfg, 'web1', '192.0.2.10')


def _smtp_cfg(port, **kw):
    return mail_cfg(to=('admin@example.com',), method='smtp', smtp_host='127.0.0.1', smtp_port=port,
                    smtp_timeout=5.0, **kw)


def test_smtp_delivers(smtp_server):
    cfg = _smtp_cfg(smtp_server.port)
    assert mailer.send(_message(cfg), cfg, local_hostname='web1') == {}
    (msg,) = smtp_server.wait_messages(1)
    assert msg['Subject'] == '192.0.2.10 | Found something suspicious'
    assert '/var/www/html/x.php:1:eval($_POST[1])' in msg.get_content()
    assert smtp_server.collector.envelopes[0][1] == ['admin@example.com']


@pytest.mark.parametrize('reply,code', [('451 4.3.0 try again later', 451), ('554 5.7.1 go away', 554)])
def test_smtp_refusal_names_route_and_code(smtp_server, reply, code):
    smtp_server.set_reply(reply)
    cfg = _smtp_cfg(smtp_server.port)
    with pytest.raises(mailer.MailError) as err:
        mailer.send(_message(cfg), cfg)
    text = str(err.value)
    assert 'SMTP 127.0.0.1:%d' % smtp_server.port in text and str(code) in text
    assert smtp_server.messages() == []


def test_smtp_connection_refused():
    cfg = _smtp_cfg(free_port())
    with pytest.raises(mailer.MailError) as err:
        mailer.send(_message(cfg), cfg)
    assert 'connection refused' in str(err.value)


def test_no_recipients_is_an_error():
    cfg = _smtp_cfg(free_port())._replace(to=())
    with pytest.raises(mailer.MailError, match='no recipients'):
        mailer.send(_message(cfg), cfg)


@needs_msmtp
def test_sendmail_route_through_msmtp(smtp_server, tmp_path):
    rc = write_msmtprc(str(tmp_path / 'msmtprc'), smtp_server.port)
    cfg = mail_cfg(to=('admin@example.com',), sendmail='%s -C %s -t -oi' % (MSMTP, rc))
    mailer.send(_message(cfg), cfg)
    (msg,) = smtp_server.wait_messages(1)
    assert msg['Subject'] == '192.0.2.10 | Found something suspicious'
    assert '/var/www/html/x.php:1:eval($_POST[1])' in msg.get_content()
    assert smtp_server.collector.envelopes[0][1] == ['admin@example.com']


@needs_msmtp
def test_sendmail_route_server_down_is_an_error(tmp_path):
    rc = write_msmtprc(str(tmp_path / 'msmtprc'), free_port())
    cfg = mail_cfg(to=('admin@example.com',), sendmail='%s -C %s -t -oi' % (MSMTP, rc))
    with pytest.raises(mailer.MailError) as err:
        mailer.send(_message(cfg), cfg)
    assert 'exit code' in str(err.value) and MSMTP in str(err.value)


def test_sendmail_exit_75_reports_tempfail(tmp_path):
    got = tmp_path / 'stdin'
    cfg = mail_cfg(to=('admin@example.com',),
                   sendmail="/bin/sh -c 'cat > %s; echo queue full >&2; exit 75'" % got)
    with pytest.raises(mailer.MailError) as err:
        mailer.send(_message(cfg), cfg)
    assert 'exit code 75 (EX_TEMPFAIL): queue full' in str(err.value)
    assert b'Subject: 192.0.2.10 | Found something suspicious' in got.read_bytes()


def test_sendmail_missing_binary():
    cfg = mail_cfg(to=('admin@example.com',), sendmail='/nonexistent/sendmail -t')
    with pytest.raises(mailer.MailError, match='cannot run'):
        mailer.send(_message(cfg), cfg)


def test_sendmail_hanging_is_killed(tmp_path):
    cfg = mail_cfg(to=('admin@example.com',), sendmail='/bin/sleep 60', smtp_timeout=1.0)
    with pytest.raises(mailer.MailError, match='timed out'):
        mailer.send(_message(cfg), cfg)


def test_sendmail_args_are_not_shell(tmp_path):
    marker = tmp_path / 'pwned'
    cfg = mail_cfg(to=('admin@example.com',), sendmail='/bin/echo $(touch %s)' % marker)
    mailer.send(_message(cfg), cfg)          # echo exits 0 and prints its literal arguments
    assert not os.path.exists(str(marker))


@pytest.mark.filterwarnings('ignore:Requiring AUTH while not requiring TLS')
def test_smtp_login_accepted_and_refused():
    from aiosmtpd.smtp import AuthResult
    from tests.support.smtp import SMTPServer

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b'alerts' and auth_data.password == b's3cret'
        return AuthResult(success=ok, handled=False)     # handled=False: the server answers 535

    server = SMTPServer(authenticator=authenticator, auth_require_tls=False, auth_required=True).start()
    try:
        cfg = _smtp_cfg(server.port, smtp_user='alerts', smtp_password='s3cret')
        mailer.send(_message(cfg), cfg)
        server.wait_messages(1)
        with pytest.raises(mailer.MailError) as err:
            mailer.send(_message(cfg), cfg._replace(smtp_password='wrong'))
        assert "login as 'alerts' refused: 535" in str(err.value)
        with pytest.raises(mailer.MailError) as err:           # the server requires AUTH
            mailer.send(_message(cfg), cfg._replace(smtp_user=''))
        assert '530' in str(err.value)
        assert len(server.messages()) == 1
    finally:
        server.stop()


def test_starttls_required_but_not_offered(smtp_server):
    cfg = _smtp_cfg(smtp_server.port, smtp_starttls=True)
    with pytest.raises(mailer.MailError, match='STARTTLS'):
        mailer.send(_message(cfg), cfg)
    assert smtp_server.messages() == []


def _in_thread(fn, timeout):
    """Run fn in a thread; (finished, exception).  A hang shows as finished=False, not a hung test."""
    import threading
    box = {}

    def run():
        try:
            fn()
        except Exception as exc:          # noqa: B902 (reported to the test)
            box['exc'] = exc
    t = threading.Thread(target=run)
    t.daemon = True
    t.start()
    t.join(timeout)
    return not t.is_alive(), box.get('exc')


def test_a_forking_sendmail_whose_child_hangs_is_killed_with_its_group(tmp_path):
    """Issue 15: a wrapper that forks `sleep 1000` keeping stdout open; the mailer killed only
    the wrapper and then communicate() waited forever."""
    pidfile = tmp_path / 'child.pid'
    wrapper = tmp_path / 'sendmail'
    wrapper.write_text('#!/bin/sh\nsleep 1000 &\necho $! > %s\ncat > /dev/null\nexit 0\n' % pidfile)
    os.chmod(str(wrapper), 0o755)
    cfg = mail_cfg(to=('admin@example.com',), sendmail='%s -t -oi' % wrapper, smtp_timeout=1.0)
    try:
        finished, exc = _in_thread(lambda: mailer.send(_message(cfg), cfg), timeout=30)
        assert finished, 'mailer.send still waiting on the hung child'
        assert isinstance(exc, mailer.MailError) and 'timed out' in str(exc)
        child = int(pidfile.read_text())
        from tests.support.service import alive, wait_for
        wait_for(lambda: not alive(child), timeout=10, what='the forked child to be killed')
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), 9)
            except OSError:
                pass


@pytest.mark.parametrize('interval', [0.2, None], ids=['drips', 'silent'])
def test_an_smtp_server_that_drips_or_stays_silent_hits_a_total_deadline(interval):
    """Issue 15: a server that answers one byte at a time never trips smtplib's per-read
    timeout; the delivery now has a total deadline (TOTAL_STEPS x smtp_timeout)."""
    import time
    from tests.support.smtp import DripServer
    server = DripServer(interval=interval).start()
    try:
        cfg = _smtp_cfg(server.port)._replace(smtp_timeout=1.0)
        started = time.monotonic()
        finished, exc = _in_thread(lambda: mailer.send(_message(cfg), cfg), timeout=30)
        took = time.monotonic() - started
        assert finished and isinstance(exc, mailer.MailError), exc
        assert server.accepted == 1
        if interval is not None:
            assert 'total deadline' in str(exc) and took >= mailer.TOTAL_STEPS * 1.0 - 0.5
        else:
            assert 'timed out' in str(exc) or 'total deadline' in str(exc)
    finally:
        server.stop()
