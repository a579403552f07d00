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
