"""Hand one finished EmailMessage to the configured mail route: a sendmail command or SMTP.

Thin on purpose: smtplib and subprocess do the work.  What this module adds is one error type
whose text names the route and the reason (refused, timed out, exit code), because that text
ends up in the daemon log and in `newfilewatch test-alert`, where an admin has to act on it.
"""
import os
import shlex
import signal
import smtplib
import socket
import ssl
import subprocess
import threading

# sysexits.h, which sendmail implementations (sendmail, postfix, exim, msmtp) use for exit codes.
_SYSEXITS = {64: 'EX_USAGE', 65: 'EX_DATAERR', 66: 'EX_NOINPUT', 67: 'EX_NOUSER',
             68: 'EX_NOHOST', 69: 'EX_UNAVAILABLE', 70: 'EX_SOFTWARE', 71: 'EX_OSERR',
             72: 'EX_OSFILE', 73: 'EX_CANTCREAT', 74: 'EX_IOERR', 75: 'EX_TEMPFAIL',
             76: 'EX_PROTOCOL', 77: 'EX_NOPERM', 78: 'EX_CONFIG'}


# A delivery may take this many per-step timeouts in all: a server that accepts and then
# drips a byte at a time never trips a per-read timeout, so every SMTP delivery and every
# sendmail run has a total deadline too.
TOTAL_STEPS = 3
REAP_TIMEOUT = 5.0        # seconds to wait for a killed sendmail's pipes and exit status


class MailError(Exception):
    """The route did not accept the mail; str() says which route and why."""


def route_name(mail_cfg):
    """Short human name of the configured route, for log lines."""
    if mail_cfg.method == 'smtp':
        return 'SMTP %s:%d' % (mail_cfg.smtp_host, mail_cfg.smtp_port)
    return 'sendmail command %r' % mail_cfg.sendmail


def send(message, mail_cfg, local_hostname=None):
    """Send `message`; return a dict of recipients the server refused while accepting others.

    Raises MailError when the mail was not accepted at all (the caller keeps it and retries).
    A partial refusal is not an error: the mail went out, resending would duplicate it.
    """
    if not message['To']:
        raise MailError('no recipients: set [mail] to')
    if mail_cfg.method == 'smtp':
        return _send_smtp(message, mail_cfg, local_hostname)
    return _send_sendmail(message, mail_cfg)


def _send_sendmail(message, mail_cfg):
    # The command line is the admin's config, never derived from a file: split, no shell.
    try:
        argv = shlex.split(mail_cfg.sendmail)
    except ValueError as exc:
        raise MailError('sendmail command %r: cannot parse: %s' % (mail_cfg.sendmail, exc))
    if not argv:
        raise MailError('sendmail command is empty: set [mail] sendmail or method = smtp')
    where = 'sendmail command %r' % mail_cfg.sendmail
    # A sendmail that relays synchronously (msmtp, nullmailer-inject) may wait on the network.
    timeout = 2 * mail_cfg.smtp_timeout
    try:
        # Its own process group: a wrapper that forks (a script running the real sendmail)
        # is killed with all its children, whose open stdout would otherwise keep
        # communicate() waiting forever.
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, close_fds=True, cwd='/',
                                start_new_session=True)
    except OSError as exc:
        raise MailError('%s: cannot run: %s' % (where, exc.strerror or exc))
    try:
        out, err = proc.communicate(message.as_bytes(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise MailError('%s: timed out after %g s (killed with its children)' % (where, timeout))
    except OSError as exc:           # EPIPE: it exited before reading the message
        _kill_group(proc)
        raise MailError('%s: broken pipe: %s' % (where, exc.strerror or exc))
    if proc.returncode != 0:
        detail = (err or out or b'').decode('utf-8', 'replace').strip().splitlines()
        code = proc.returncode
        name = _SYSEXITS.get(code, 'signal %d' % -code if code < 0 else '')
        raise MailError('%s: exit code %d%s%s' % (
            where, code, ' (%s)' % name if name else '',
            ': ' + ' | '.join(detail[-3:])[:500] if detail else ''))
    return {}


def _kill_group(proc):
    """SIGKILL the sendmail and everything in its process group; every wait is bounded."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    try:
        proc.communicate(timeout=REAP_TIMEOUT)
    except (subprocess.TimeoutExpired, OSError, ValueError):
        # a child that left the group still holds a pipe: stop reading it, reap the wrapper
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=REAP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass


class _Deadline(object):
    """A total deadline for one SMTP delivery: when it passes, the connection's socket is shut
    down, so whatever read or write smtplib is blocked in returns at once.

    By hand: smtplib only has a per-operation socket timeout, which a server dripping one byte
    per read never trips.
    """

    def __init__(self, conn, seconds):
        self.conn = conn
        self.seconds = seconds
        self.expired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name='newfilewatch-smtp-deadline')
        self._thread.daemon = True

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join(REAP_TIMEOUT)

    def _watch(self):
        if self._done.wait(self.seconds):
            return
        self.expired = True
        while True:               # until the delivery gives up (it may still be connecting)
            sock = getattr(self.conn, 'sock', None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if self._done.wait(0.1):
                return


def _send_smtp(message, mail_cfg, local_hostname):
    where = 'SMTP %s:%d' % (mail_cfg.smtp_host, mail_cfg.smtp_port)
    conn = smtplib.SMTP(local_hostname=local_hostname or socket.gethostname(),
                        timeout=mail_cfg.smtp_timeout)     # not connected yet
    total = TOTAL_STEPS * mail_cfg.smtp_timeout
    with _Deadline(conn, total) as deadline:
        try:
            return _deliver_smtp(conn, message, mail_cfg, where)
        except MailError:
            if deadline.expired:
                raise MailError('%s: no complete answer within the total deadline of %g s '
                                '(%d x smtp_timeout)' % (where, total, TOTAL_STEPS))
            raise


def _deliver_smtp(conn, message, mail_cfg, where):
    # Passing local_hostname spares smtplib a getfqdn() DNS lookup that can hang.
    try:
        code, greeting = conn.connect(mail_cfg.smtp_host, mail_cfg.smtp_port)
        if code != 220:                      # what smtplib.SMTP(host) checks for us
            conn.close()
            raise smtplib.SMTPConnectError(code, greeting)
    except (socket.timeout, TimeoutError):
        raise MailError('%s: connection timed out after %g s' % (where, mail_cfg.smtp_timeout))
    except ConnectionRefusedError:
        raise MailError('%s: connection refused' % where)
    except smtplib.SMTPResponseException as exc:   # e.g. a 421/554 greeting
        raise MailError('%s: refused: %d %s' % (where, exc.smtp_code, _text(exc.smtp_error)))
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError('%s: cannot connect: %s' % (where, exc))
    try:
        try:
            if mail_cfg.smtp_starttls:
                conn.ehlo()
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if mail_cfg.smtp_user:
                conn.login(mail_cfg.smtp_user, mail_cfg.smtp_password)
            refused = conn.send_message(message)
        finally:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError('%s: all recipients refused: %s' % (where, '; '.join(
            '%s: %d %s' % (rcpt, code, _text(msg)) for rcpt, (code, msg) in exc.recipients.items())))
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError('%s: login as %r refused: %d %s' % (
            where, mail_cfg.smtp_user, exc.smtp_code, _text(exc.smtp_error)))
    except smtplib.SMTPResponseException as exc:
        raise MailError('%s: refused: %d %s' % (where, exc.smtp_code, _text(exc.smtp_error)))
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError('%s: %s' % (where, exc))
    except (socket.timeout, TimeoutError):
        raise MailError('%s: timed out after %g s' % (where, mail_cfg.smtp_timeout))
    except ssl.SSLError as exc:
        raise MailError('%s: TLS failed: %s' % (where, exc))
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError('%s: %s' % (where, exc or exc.__class__.__name__))
    return dict((rcpt, (code, _text(msg))) for rcpt, (code, msg) in (refused or {}).items())


def _text(value):
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    return ' '.join(str(value).split())

