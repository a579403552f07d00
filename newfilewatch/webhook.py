"""`[hooks] webhook_url`: each alert POSTed as JSON to a chat's incoming webhook, via the desk.

The route is one of the alert desk's (alerts.Desk): it gets the same durable spool, batching,
hourly cap, dedupe and retry with backoff as mail, so a chat outage loses nothing.  It posts
alert by alert (`per_alert`), and the desk acknowledges each accepted POST at once, so an
outage half-way through a batch resends only what was not accepted yet.

The body is the `alert` event object (formatting.event_record) plus `text`, the one field
Slack, Mattermost and Microsoft Teams incoming webhooks display, and `id`, the spool id of the
alert, which a receiver may use to drop a duplicate (the desk's one resend window, see alerts).
Only a 2xx answer counts as delivered; a redirect is not followed (a POST that turned into a
GET would be "accepted" by something else).  urllib does HTTP and TLS (certificates checked
with the system's CAs); only the URL's scheme, host and port appear in logs, because a Slack
or Teams webhook URL carries its secret in the path.
"""
import json
import logging
import urllib.error
import urllib.parse
import urllib.request

from newfilewatch import formatting
from newfilewatch.alerts import Delivery
from newfilewatch.escape import one_line

SLACK_ESCAPES = (('&', '&amp;'), ('<', '&lt;'), ('>', '&gt;'))


class WebhookError(Exception):
    """Not delivered; str() says why (refused, HTTP status, timeout)."""


def check_url(url):
    """None when `url` is usable, else the problem (for check-config)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        return '%r is not an http:// or https:// URL' % url
    return None


def redacted(url):
    """scheme://host:port/... : what a log line may show of a webhook URL."""
    parts = urllib.parse.urlsplit(url)
    return '%s://%s%s' % (parts.scheme, parts.netloc.rpartition('@')[2], '/...' if parts.path
                          not in ('', '/') else '')


def chat_text(record, host):
    """The line a chat shows: server, file, rules, score and the quarantine command.

    Slack gives `<`, `>` and `&` a meaning (links, mentions), so they are written as entities,
    as its documentation asks; the path is already escaped (one printable line).
    """
    rules = ', '.join(sorted(set(h['rule'] for h in record.get('hits') or ())))
    text = 'newfilewatch on %s: suspicious file %s (owner %s, score %s): %s' % (
        one_line(host, 255), record.get('path'), record.get('owner'), record.get('score'), rules)
    if record.get('quarantine'):
        text += '\nquarantine: %s' % record['quarantine']
    for raw, entity in SLACK_ESCAPES:
        text = text.replace(raw, entity)
    return text


def payload(alert, host):
    """The JSON body for one spooled alert; pure."""
    record = formatting.event_record('alert', alert.finding.time, alert.finding,
                                     writer=formatting.writer_json(alert.finding))
    record['host'] = host
    record['id'] = alert.id
    record['text'] = chat_text(record, host)
    return record


def test_payload(host):
    """`newfilewatch test-alert`: one message, so an admin sees the chat route works."""
    return {'event': 'test', 'host': host, 'text': 'newfilewatch on %s: test alert '
            '(`newfilewatch test-alert`); alerts will arrive here.' % one_line(host, 255)}


def overflow_payload(count, host, log_path):
    text = 'newfilewatch on %s: %d more suspicious file%s, see %s' % (
        one_line(host, 255), count, '' if count == 1 else 's',
        one_line(log_path, 4096) if log_path else 'the newfilewatch log')
    for raw, entity in SLACK_ESCAPES:
        text = text.replace(raw, entity)
    return {'event': 'alert_overflow', 'host': host, 'count': count, 'text': text}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None                 # urllib then raises HTTPError with the 3xx status


def post(url, body, timeout, opener=None):
    """POST `body` (dict) as JSON; returns the HTTP status, or raises WebhookError."""
    where = redacted(url)
    data = json.dumps(body, ensure_ascii=True, sort_keys=True).encode('ascii')
    request = urllib.request.Request(url, data=data, method='POST', headers={
        'Content-Type': 'application/json', 'User-Agent': 'newfilewatch',
        'Idempotency-Key': str(body.get('id', ''))})
    opener = opener or urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        detail = ''
        try:
            detail = ' '.join(exc.read(300).decode('utf-8', 'replace').split())
        except OSError:
            pass
        raise WebhookError('%s answered %d %s%s' % (where, exc.code, exc.reason,
                                                    ': ' + detail if detail else ''))
    except urllib.error.URLError as exc:
        raise WebhookError('%s: %s' % (where, getattr(exc.reason, 'strerror', None) or exc.reason))
    except OSError as exc:                  # socket.timeout, a reset connection
        raise WebhookError('%s: %s' % (where, exc or exc.__class__.__name__))
    if not 200 <= status < 300:
        raise WebhookError('%s answered %d' % (where, status))
    return status


class WebhookRoute(object):
    """A desk route: one POST per alert (see the module docstring)."""

    what = 'webhook'
    per_alert = True

    def __init__(self, url, spool_dir, host, timeout=10.0, batch_window=10, max_per_hour=60,
                 dedupe_period=86400, log_path='', logger=None):
        self.url = url
        self.spool_dir = spool_dir
        self.host = host
        self.timeout = timeout
        self.batch_window = batch_window
        self.max_per_hour = max_per_hour
        self.dedupe_period = dedupe_period
        self.log_path = log_path
        self.log = logger or logging.getLogger('newfilewatch.alerts')
        self._opener = urllib.request.build_opener(_NoRedirect)

    def describe(self):
        return redacted(self.url)

    def wants(self, finding):
        return True

    def deliver(self, batch, overflow):
        done = []
        try:
            for alert in batch:
                post(self.url, payload(alert, self.host), self.timeout, self._opener)
                done.append(alert.id)
            if overflow:
                post(self.url, overflow_payload(overflow, self.host, self.log_path), self.timeout,
                     self._opener)
        except WebhookError as exc:
            return Delivery(done, str(exc), False)
        return Delivery(done, None, bool(overflow))
