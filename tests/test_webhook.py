"""[hooks] webhook_url through the alert desk, against a real http.server on 127.0.0.1 that is
down, then too slow, then slow, then answers 500, then up: every alert is accepted exactly once."""
import http.server
import json
import os
import socketserver
import threading
import time

import pytest

from newfilewatch import alerts, formatting, model, webhook
from tests.support.nfw import WEBSHELL, Runner, wait_until, write_file
from tests.support.smtp import free_port


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """http.server.ThreadingHTTPServer, which Python 3.6 lacks."""
    daemon_threads = True
    allow_reuse_address = True


class Hook(object):
    """A chat's incoming webhook: records every POST; `mode` is up / slow / too_slow / 500."""

    def __init__(self, port):
        self.port = port
        self.mode = 'up'
        self.delay = 0.0
        self.lock = threading.Lock()
        self.requests = []          # (mode, status, body dict)
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])).decode())
                mode = hook.mode
                status = 500 if mode == '500' else 200
                if mode in ('slow', 'too_slow'):
                    time.sleep(hook.delay)
                if mode == 'too_slow':
                    status = 503            # the client gave up long ago: not an acceptance
                with hook.lock:
                    hook.requests.append((mode, status, body, self.headers['Content-Type']))
                self.send_response(status)
                self.send_header('Content-Length', '2')
                self.end_headers()
                try:
                    self.wfile.write(b'ok')
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.Handler = Handler
        self.server = None

    def start(self):
        self.server = _Server(('127.0.0.1', self.port), self.Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def seen(self, mode=None, status=None):
        with self.lock:
            return [r for r in self.requests if (mode is None or r[0] == mode) and
                    (status is None or r[1] == status)]

    def accepted_ids(self):
        return [r[2].get('id') for r in self.seen(status=200)]


def _finding(n):
    return model.finding('/var/www/html/up/shell%d.php' % n, owner='alice', uid=1000, size=100,
                         sha256='%064x' % (n + 1), score=20, suspicious=True, time=1700000000.0 + n,
                         hits=[model.Hit('php.request_to_exec', 1, 'system($_GET[1]);',
                                         'critical', 20)])


def test_payload_is_the_alert_event_plus_text_and_id():
    alert = alerts.Alert('a-1', _finding(1), 0.0, 'k', 1)
    body = webhook.payload(alert, 'web1<&>')
    record = formatting.event_record('alert', alert.finding.time, alert.finding)
    assert {k: body[k] for k in record} == record
    assert body['id'] == 'a-1' and body['host'] == 'web1<&>'
    assert body['text'].startswith('newfilewatch on web1&lt;&amp;&gt;: suspicious file '
                                   '/var/www/html/up/shell1.php (owner alice, score 20)')
    assert 'quarantine: newfilewatch quarantine --sha256 ' in body['text']


def test_urls_are_checked_and_their_secret_path_is_not_logged():
    assert webhook.check_url('https://hooks.slack.com/services/T/B/secret') is None
    assert webhook.check_url('ftp://x/y') and webhook.check_url('hooks.slack.com/x')
    assert webhook.redacted('https://user:pw@hooks.slack.com/services/T/B/secret') == \
        'https://hooks.slack.com/...'


@pytest.fixture
def hook_server():
    server = Hook(free_port())
    yield server
    server.stop()


def test_down_too_slow_slow_500_up_each_alert_accepted_once(hook_server, tmp_path):
    route = webhook.WebhookRoute('http://127.0.0.1:%d/hooks/secret' % hook_server.port,
                                 str(tmp_path / 'spool' / 'webhook'), 'web1', timeout=1.0,
                                 batch_window=0, max_per_hour=10000)
    desk = alerts.Desk(route, retry_base=0.05, retry_max=0.2, poll_interval=0.02).start()
    try:
        # down: nothing listens on the port
        for n in (1, 2):
            assert desk.add(_finding(n))
        wait_until(lambda: desk.stats()['failures'] >= 2, what='refused connections')
        # too slow: the server takes longer than the timeout (and then says 503)
        hook_server.mode, hook_server.delay = 'too_slow', 1.5
        hook_server.start()
        wait_until(lambda: hook_server.seen('too_slow'), what='a request to the slow server')
        wait_until(lambda: desk.stats()['failures'] >= 3, what='a timeout')
        # slow but in time: delivered; an alert added meanwhile goes out too
        hook_server.mode, hook_server.delay = 'slow', 0.3
        assert desk.add(_finding(3))
        wait_until(lambda: sorted(hook_server.accepted_ids()) and desk.stats()['queued'] == 0,
                   timeout=20, what='the slow server to take everything')
        # 500: refused, kept
        hook_server.mode = '500'
        failures = desk.stats()['failures']
        assert desk.add(_finding(4))
        wait_until(lambda: desk.stats()['failures'] > failures, what='a 500 answer')
        assert desk.stats()['queued'] == 1
        # up
        hook_server.mode = 'up'
        wait_until(lambda: desk.stats()['queued'] == 0, timeout=20, what='delivery when up')
    finally:
        desk.close(timeout=5)
    accepted = hook_server.accepted_ids()
    assert sorted(accepted) == sorted(set(accepted)) and len(accepted) == 4   # each once
    paths = sorted(r[2]['path'] for r in hook_server.seen(status=200))
    assert paths == ['/var/www/html/up/shell%d.php' % n for n in (1, 2, 3, 4)]
    assert hook_server.seen('500', 500) and hook_server.seen('too_slow')
    assert all(r[3] == 'application/json' for r in hook_server.seen())
    assert not [n for n in os.listdir(str(tmp_path / 'spool' / 'webhook')) if n.startswith('alert-')]


def test_a_restart_delivers_what_the_outage_kept(hook_server, tmp_path):
    spool = str(tmp_path / 'spool' / 'webhook')
    url = 'http://127.0.0.1:%d/h' % hook_server.port
    route = webhook.WebhookRoute(url, spool, 'web1', timeout=1.0, batch_window=0)
    desk = alerts.Desk(route, retry_base=0.05, retry_max=0.2, poll_interval=0.02).start()
    desk.add(_finding(7))
    wait_until(lambda: desk.stats()['failures'] >= 1, what='a failed POST')
    desk.close()
    hook_server.start()
    again = alerts.Desk(webhook.WebhookRoute(url, spool, 'web1', timeout=1.0, batch_window=0),
                        retry_base=0.05, poll_interval=0.02).start()
    try:
        wait_until(lambda: again.stats()['queued'] == 0 and hook_server.accepted_ids(),
                   what='the spooled alert posted after the restart')
    finally:
        again.close()
    assert len(hook_server.accepted_ids()) == 1


def test_the_running_watcher_posts_its_alerts(hook_server, tmp_path):
    hook_server.start()
    www = tmp_path / 'www'
    www.mkdir()
    runner = Runner(tmp_path, str(www), extra_config='[hooks]\nwebhook_url = http://127.0.0.1:%d/x\n'
                    'webhook_batch_window = 0\n' % hook_server.port)
    try:
        runner.ready()
        write_file(str(www / 'shell.php'), WEBSHELL)
        event = runner.events.wait('alert', str(www / 'shell.php'))
        wait_until(lambda: hook_server.accepted_ids(), what='the POST')
    finally:
        runner.stop()
    (body,) = [r[2] for r in hook_server.seen(status=200)]
    assert {k: body[k] for k in event if k != 'synthetic'} == \
        {k: v for k, v in event.items() if k != 'synthetic'}
    assert 'shell.php' in body['text']


def test_test_alert_posts_to_the_webhook(hook_server, tmp_path):
    from tests.support.nfw import write_config
    from tests.support.service import program
    conf = write_config(str(tmp_path / 'w.conf'), str(tmp_path),
                        '[hooks]\nwebhook_url = http://127.0.0.1:%d/secret/path\n' % hook_server.port)
    down = program(['test-alert', '--config', conf])
    assert down.returncode == 1 and 'not posted' in down.stderr and 'secret' not in down.stderr
    hook_server.start()
    done = program(['test-alert', '--config', conf])
    assert done.returncode == 0, done.stderr
    assert 'posted to http://127.0.0.1:%d/...' % hook_server.port in done.stdout
    (request,) = hook_server.seen(status=200)
    assert request[2]['event'] == 'test' and 'test alert' in request[2]['text']
