"""A real SMTP server for tests: aiosmtpd's Controller on 127.0.0.1 and a free port.

It keeps every accepted message (parsed with the default email policy) and can be told to answer
DATA with a temporary or permanent failure, so the mailer's and the alert desk's error paths run
against a real protocol exchange.  Also: an msmtp config helper for the sendmail route, and a
poll-with-deadline `wait_until` (tests wait on conditions, never on bare sleeps).

Import explicitly:  from tests.support.smtp import smtp_server, wait_until, write_msmtprc
"""
import email
import email.policy
import os
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from tests.support.wait import wait_until  # noqa: F401  (re-exported)


def free_port():
    """A TCP port nobody listens on right now (bound once by us to ask the kernel, then freed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Collector(object):
    """aiosmtpd handler: stores messages; `reply` (e.g. '451 4.3.0 try later') fails DATA."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []          # email.message.EmailMessage, in arrival order
        self.envelopes = []         # (mail_from, rcpt_tos, raw bytes)
        self.reply = None
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.attempts += 1
            if self.reply:
                return self.reply
            raw = envelope.original_content or envelope.content
            if isinstance(raw, str):
                raw = raw.encode('utf-8', 'surrogateescape')
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), raw))
            # Stored the way an MTA hands mail to a mailbox: with local line ends.
            local = raw.replace(b'\r\n', b'\n')
            self.messages.append(email.message_from_bytes(local, policy=email.policy.default))
        return '250 OK'

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def count(self):
        with self.lock:
            return len(self.messages)


class SMTPServer(object):
    """A started Controller plus its Collector; `.port`, `.messages()`, `.wait_messages(n)`."""

    def __init__(self, **smtp_kwargs):
        """`smtp_kwargs` go to aiosmtpd's SMTP class (e.g. authenticator=..., auth_require_tls=False)."""
        self.collector = Collector()
        self.port = free_port()
        self.controller = Controller(self.collector, hostname='127.0.0.1', port=self.port,
                                     server_hostname='mx.test', ready_timeout=10.0, **smtp_kwargs)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def messages(self):
        return self.collector.snapshot()

    def wait_messages(self, n, timeout=10.0):
        wait_until(lambda: self.collector.count() >= n, timeout,
                   what='%d message(s) at the test SMTP server (have %d)' % (n, self.collector.count()))
        return self.messages()

    def set_reply(self, reply):
        """None to accept; '451 ...' / '554 ...' to refuse DATA."""
        with self.collector.lock:
            self.collector.reply = reply


@pytest.fixture
def smtp_server():
    server = SMTPServer().start()
    try:
        yield server
    finally:
        server.stop()


def write_msmtprc(path, port, host='127.0.0.1', sender='newfilewatch@localhost'):
    """An msmtp config relaying to `host:port` without TLS or auth; msmtp requires mode 0600."""
    text = '\n'.join([
        'defaults',
        'auth off',
        'tls off',
        'timeout 10',
        'account default',
        'host %s' % host,
        'port %d' % port,
        'from %s' % sender,
        ''])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as fh:
        fh.write(text)
    return path


def mail_cfg(**changes):
    """The validated built-in [mail] defaults with `changes` (tests build configs the real way)."""
    from newfilewatch import config
    cfg = config.load(os.devnull).mail     # never /etc/newfilewatch.conf
    return cfg._replace(**changes)


class DripServer(object):
    """A hostile SMTP peer on 127.0.0.1: accepts, then sends its greeting one byte every
    `interval` seconds and never finishes it (`interval` None: never sends anything).

    A per-read timeout never trips on it; only a total deadline ends the delivery.
    """

    def __init__(self, port=None, interval=0.2):
        self.interval = interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', port or 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)
        self._thread.daemon = True

    def start(self):
        self._thread.start()
        return self

    def _serve(self):
        self.sock.settimeout(0.05)
        conns, started = [], set()
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conns.append(conn)
            except socket.timeout:
                pass
            except OSError:
                break
            if self.interval is not None:
                for conn in list(conns):
                    try:                     # '220-' opens a greeting whose line never ends
                        conn.send(b'x' if conn.fileno() in started else b'220-')
                        started.add(conn.fileno())
                    except OSError:
                        conns.remove(conn)
            self._stop.wait(self.interval or 0.05)
        for conn in conns:
            conn.close()

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
