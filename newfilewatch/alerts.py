"""The alert desk: suspicious Findings in, few, batched, rate-limited, deduplicated deliveries out.

One mechanism, several routes: the admin's mail (MailRoute), a chat webhook (webhook.WebhookRoute)
and the account owners' own mail (owners.OwnerMailRoute) each get a Desk with its own spool
directory.  The Desk owns durability, batching, the hourly cap, dedupe and retry; a route only
turns a batch into deliveries and says which alerts were accepted (Delivery), so a route that
delivers alert by alert (one POST each) acknowledges them one by one and a failure half-way
resends only the rest.

Promise: an alert that add() accepted is delivered (at least once), even across outages of the
route and daemon restarts, and is not delivered twice except in one small, documented window.

How:
- add() writes the alert to the spool dir (temp file, fsync, os.replace, fsync of the dir) before
  it returns, then wakes the worker.  It never touches the network.
- One worker thread decides when to send (a pure function, `send_at`: batch window, hourly cap,
  retry backoff) and hands everything pending to the route; the mail route renders ONE mail
  (the highest-scoring `detail_limit` findings in full, the rest counted as "and N more, see
  LOG") and hands it to mailer.send.
- On acceptance it first records the carried alert ids as acknowledged in state.json (fsync'd),
  then deletes their spool files.  start() deletes acknowledged files instead of sending them.
  The window that remains: a crash after the server accepted the mail but before state.json
  reached the disk (a few milliseconds) resends that batch on restart.  The resent mail has the
  same Message-ID when it carries the same alerts (mailfmt.stable_msgid), so clients that
  collapse duplicates by Message-ID hide it.  Nothing can close the window entirely without the
  server's help: "accepted" and "noted" are two events on two machines.
- On failure the alerts stay pending and spooled; retries back off exponentially
  (retry_base, doubling, at most retry_max).
- Dedupe: content (sha256) alerted within dedupe_period is not alerted again.  The times are
  written to state.json with every sent mail; alerts still in the spool restore theirs on start.
  Sent-mail times (for the rolling-hour cap) persist the same way, so a restart loop cannot
  bypass the cap.

The spool and state formats are plain JSON so an admin can read them; this module is the only
writer.  Hand-written because no maintained library offers a durable, deduplicating mail spool
that runs on EL7's Python 3.6 without a broker.
"""
import collections
import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import threading
import time

from newfilewatch import escape, mailer, mailfmt, model, safefile

HOUR = 3600.0
RETRY_BASE = 30.0          # first retry after a failed send, seconds; doubles each failure
RETRY_MAX = 3600.0
DETAIL_LIMIT = 25          # findings shown in full per mail; the rest are counted
MAX_PENDING = 5000         # beyond this many unsent alerts, new ones are only counted (see add())
POLL_INTERVAL = 5.0        # the worker re-reads the clock at least this often (real seconds)
STATE_FILE = 'state.json'
LOCK_FILE = '.lock'
ALERT_PREFIX = 'alert-'
ALERT_SUFFIX = '.json'
FORMAT_VERSION = 1
MAX_SPOOL_FILE = 16 << 20     # bytes read of one spool file at most (a planted /dev/zero link)


class AlertError(Exception):
    """A test alert could not be sent; str() is the reason, for the command line."""


def host_and_ip():
    """This server's hostname and primary IPv4 address, without sending a packet anywhere.

    gethostbyname() reads /etc/hosts (or asks the configured resolver, as every mail server
    here does anyway); when the name does not resolve, the loopback address is still honest.
    """
    host = socket.gethostname()
    try:
        ip = socket.gethostbyname(host)
    except (OSError, UnicodeError):
        ip = '127.0.0.1'
    return host, ip


def send_test(mail_cfg, host, ip):
    """`newfilewatch test-alert`: one test mail now through the configured route, or AlertError."""
    if not mail_cfg.to:
        raise AlertError('mail is off: set [mail] to = admin@example.com in the config')
    try:
        mailer.send(mailfmt.render_test(mail_cfg, host, ip), mail_cfg, local_hostname=host)
    except mailer.MailError as exc:
        raise AlertError(str(exc))


def send_at(now, oldest_queued, sent_times, window, cap, retry_at, flush=False):
    """When pending alerts may go out, and what holds them: (time, 'window'|'cap'|'retry').

    Pure.  `sent_times` are the times of accepted mails; the cap is a rolling hour, so the
    (cap)-th most recent mail must be an hour old before the next one may leave.  `flush`
    (daemon stopping) ignores the batch window, never the cap or the backoff.
    """
    holds = [(retry_at, 'retry')]
    if not flush:
        holds.append((oldest_queued + window, 'window'))
    recent = sorted(t for t in sent_times if t > now - HOUR)
    if cap > 0 and len(recent) >= cap:
        holds.append((recent[-cap] + HOUR, 'cap'))
    return max(holds)


def backoff(failures, base=RETRY_BASE, ceiling=RETRY_MAX):
    """Delay before retry number `failures` (1-based): base, 2*base, 4*base ... at most ceiling."""
    return min(base * (2 ** min(max(failures - 1, 0), 30)), ceiling)


def pick_detailed(alerts, limit):
    """The `limit` highest-scoring alerts, kept in arrival order (the rest are only counted)."""
    if len(alerts) <= limit:
        return list(alerts)
    ranked = sorted(range(len(alerts)), key=lambda i: (-_num(alerts[i].finding.score), i))[:limit]
    return [alerts[i] for i in sorted(ranked)]


def dedupe_key(finding):
    """Same content, same key; a finding without a hash (symlink, fifo) is keyed by kind and path."""
    return finding.sha256 or '%s:%s' % (finding.kind, finding.path)


def _num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


# One accepted alert.  `queued` is in clock() units; `seq` orders alerts queued at the same time.
Alert = collections.namedtuple('Alert', 'id finding queued key seq')


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'surrogateescape')
    return value


def alert_to_json(alert):
    """Spool file bytes.  json escapes lone surrogates (\\udcXX), so undecodable names round-trip."""
    f = alert.finding
    d = f._asdict()
    d['path'] = _text(f.path) if isinstance(f.path, str) else os.fsdecode(f.path)
    d['hits'] = [dict(h._asdict(), text=_text(h.text)) for h in f.hits]
    doc = {'version': FORMAT_VERSION, 'id': alert.id, 'queued': alert.queued, 'key': alert.key,
           'seq': alert.seq, 'finding': d}
    return json.dumps(doc, ensure_ascii=True, sort_keys=True).encode('ascii') + b'\n'


def alert_from_json(data):
    doc = json.loads(data.decode('ascii'))
    d = dict(doc['finding'])
    hits = tuple(model.Hit(**{k: h.get(k) for k in model.Hit._fields}) for h in d.pop('hits', ()))
    known = {k: v for k, v in d.items() if k in model.Finding._fields}
    finding = model.finding(hits=hits, **known)
    return Alert(str(doc['id']), finding, float(doc['queued']), doc.get('key') or dedupe_key(finding),
                 int(doc.get('seq', 0)))


class Spool(object):
    """The spool directory: one JSON file per alert plus state.json.  All writes are atomic."""

    def __init__(self, directory, logger):
        self.dir = directory
        self.log = logger
        self.ok = False
        self._complained = False

    def open(self):
        try:
            os.makedirs(self.dir, 0o700)
            self.log.info('created alert spool %s', self.dir)
        except OSError as exc:
            if exc.errno != errno.EEXIST or not os.path.isdir(self.dir):
                return self._broken('cannot create it', exc)
        if not os.access(self.dir, os.W_OK | os.X_OK):
            return self._broken('not writable', None)
        self.ok = True
        return True

    def _broken(self, what, exc):
        if not self._complained:
            self.log.error('alert spool %s: %s%s; alerts are kept in memory only and are lost if the '
                           'daemon stops before they are mailed (fix [mail] spool_dir or its permissions)',
                           self.dir, what, ': %s' % (exc.strerror or exc) if exc else '')
        self._complained = True
        self.ok = False
        return False

    def _atomic_write(self, name, data):
        # exclusive, never-follow temp file + rename: a link planted in the spool is not written
        safefile.atomic_write(os.path.join(self.dir, name), data, mode=0o600)

    def write_alert(self, alert):
        """True when the alert is on disk; False (logged once) when the spool is unusable."""
        try:
            if not self.ok and not self.open():
                return False
            self._atomic_write(ALERT_PREFIX + alert.id + ALERT_SUFFIX, alert_to_json(alert))
        except OSError as exc:
            self._broken('cannot write', exc)
            return False
        if self._complained:
            self.log.warning('alert spool %s is writable again', self.dir)
            self._complained = False
        return True

    def remove_alert(self, alert_id):
        try:
            os.unlink(os.path.join(self.dir, ALERT_PREFIX + alert_id + ALERT_SUFFIX))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):    # gone, or never spooled
                return True
            self.log.error('alert spool: cannot remove sent alert %s: %s', alert_id, exc.strerror or exc)
            return False
        return True

    def has_alert(self, alert_id):
        return os.path.exists(os.path.join(self.dir, ALERT_PREFIX + alert_id + ALERT_SUFFIX))

    def load_alerts(self):
        """Alerts left by a previous run, oldest first; unreadable files are set aside, not lost."""
        if not self.ok:
            return []
        alerts = []
        for name in sorted(os.listdir(self.dir)):
            path = os.path.join(self.dir, name)
            if name.startswith('.tmp-') or safefile.is_temp_name(name):   # a write that never completed
                self._unlink(path)
                continue
            if not (name.startswith(ALERT_PREFIX) and name.endswith(ALERT_SUFFIX)):
                continue
            try:
                alerts.append(alert_from_json(safefile.read_small(path, MAX_SPOOL_FILE)))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.log.error('alert spool: cannot read %s (%s); renamed to %s.bad', path, exc, name)
                try:
                    os.replace(path, path + '.bad')
                except OSError:
                    pass
        alerts.sort(key=lambda a: (a.queued, a.seq, a.id))
        return alerts

    def read_state(self):
        try:
            state = json.loads(safefile.read_small(os.path.join(self.dir, STATE_FILE),
                                                   MAX_SPOOL_FILE).decode('utf-8'))
            if isinstance(state, dict):
                return state
        except (OSError, ValueError) as exc:
            if getattr(exc, 'errno', None) != errno.ENOENT:
                self.log.error('alert spool: cannot read %s: %s; starting without dedupe history',
                               STATE_FILE, exc)
        return {}

    def write_state(self, state):
        if not self.ok:
            return False
        try:
            self._atomic_write(STATE_FILE, json.dumps(state, sort_keys=True).encode('ascii'))
        except OSError as exc:
            self.log.error('alert spool: cannot write %s: %s', STATE_FILE, exc.strerror or exc)
            return False
        return True

    @contextlib.contextmanager
    def locked(self):
        """Exclusive flock on the spool while one batch is sent and acknowledged.

        Two desks on one spool (a config reload while the old worker is still talking to a slow
        server, or two daemons by mistake) then take turns, and the second sees which alert files
        the first already removed instead of mailing them again.
        """
        fd = None
        if self.ok:
            try:
                fd = os.open(os.path.join(self.dir, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW |
                             os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                self.log.error('alert spool: cannot lock %s: %s', self.dir, exc.strerror or exc)
                if fd is not None:
                    os.close(fd)
                fd = None
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)           # closing drops the flock

    def _unlink(self, path):
        try:
            os.unlink(path)
        except OSError:
            pass


# What a route did with a batch: the ids it delivered (in any order), the reason it stopped
# (None when all went out) and whether the counted-only overflow was reported too.
Delivery = collections.namedtuple('Delivery', 'done error overflow_done')


class MailRoute(object):
    """The admin's alert mail: one mail per batch through mailer.send (all or nothing)."""

    what = 'alert mail'

    def __init__(self, mail_cfg, host, ip, new_files_log='', send=None, detail_limit=DETAIL_LIMIT,
                 logger=None):
        self.cfg = mail_cfg
        self.host = host
        self.ip = ip
        self.new_files_log = new_files_log
        self.detail_limit = max(1, int(detail_limit))
        self.log = logger or logging.getLogger('newfilewatch.alerts')
        self._send = send or mailer.send
        self.spool_dir = mail_cfg.spool_dir
        self.batch_window = mail_cfg.batch_window
        self.max_per_hour = mail_cfg.max_per_hour
        self.dedupe_period = mail_cfg.dedupe_period

    def describe(self):
        return mailer.route_name(self.cfg)

    def wants(self, finding):
        return True

    def deliver(self, batch, overflow):
        detailed = pick_detailed(batch, self.detail_limit)
        more = len(batch) - len(detailed) + overflow
        ids = [a.id for a in batch]
        try:
            message = mailfmt.render([a.finding for a in detailed], self.cfg, self.host, self.ip,
                                     more=more, log_path=self.new_files_log,
                                     msgid=mailfmt.stable_msgid(ids, self.host))
            refused = self._send(message, self.cfg)
        except mailer.MailError as exc:
            return Delivery((), str(exc), False)
        if more:
            self.log.info('alert mail: %d alert(s) in full, %d counted', len(batch) + overflow - more,
                          more)
        if refused:
            self.log.warning('alert mail: some recipients refused: %s', '; '.join(
                '%s: %s %s' % (r, c, m) for r, (c, m) in sorted(refused.items())))
        return Delivery(ids, None, True)


class Desk(object):
    """Batches, rate-limits, dedupes and durably delivers alerts through one route; see the
    module docstring.

    `clock` is injectable (tests advance a fake one while the server is real); so are
    `retry_base`, `poll_interval` and `max_pending`.
    """

    def __init__(self, route, clock=time.time, logger=None, retry_base=RETRY_BASE,
                 retry_max=RETRY_MAX, poll_interval=POLL_INTERVAL, max_pending=MAX_PENDING):
        self.route = route
        self.clock = clock
        self.log = logger or logging.getLogger('newfilewatch.alerts')
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.poll_interval = poll_interval
        self.max_pending = max(1, int(max_pending))
        self._spool = Spool(route.spool_dir, self.log)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending = []          # Alerts, arrival order
        self._unspooled = set()     # ids of pending alerts only in memory
        self._seen = {}             # dedupe key -> clock time it was alerted
        self._sent_times = []       # clock times of accepted deliveries (rolling hour)
        self._acked = []            # ids accepted by the server whose spool files may remain
        self._retry_at = 0.0
        self._failures_in_row = 0
        self._seq = 0
        self._overflow = 0          # alerts only counted because max_pending was reached
        self._stopping = False
        self._flush = False
        self._started = False
        self._thread = None
        self._counts = dict(sent_mails=0, sent_alerts=0, suppressed_duplicates=0, deferred=0,
                            failures=0, worker_restarts=0)

    # -- the event loop's side ------------------------------------------------------------

    def start(self):
        """Load what a previous run left in the spool, then start the sending worker."""
        self._spool.open()
        now = self.clock()
        period = self.route.dedupe_period
        state = self._spool.read_state()
        try:
            seen = {str(k): float(t) for k, t in (state.get('dedupe') or {}).items()}
            sent_times = [float(t) for t in state.get('sent_times') or ()]
            acked = set(str(i) for i in state.get('acked') or ())
            overflow = int(state.get('overflow') or 0)
        except (TypeError, ValueError, AttributeError) as exc:
            self.log.error('alert spool: %s is malformed (%s); starting without dedupe history',
                           STATE_FILE, exc)
            seen, sent_times, acked, overflow = {}, [], set(), 0
        self._seen = {k: t for k, t in seen.items() if now - t < period}
        self._sent_times = [t for t in sent_times if t > now - HOUR]
        loaded = []
        for alert in self._spool.load_alerts():
            if alert.id in acked:           # mailed before the crash; only the delete was missing
                self._spool.remove_alert(alert.id)
                continue
            loaded.append(alert)
            self._seen[alert.key] = max(self._seen.get(alert.key, 0.0), alert.queued)
            self._seq = max(self._seq, alert.seq)
        self._acked = [i for i in acked if self._spool.has_alert(i)]
        with self._lock:
            self._overflow += overflow
            self._pending = loaded + self._pending
            self._stopping = False
            self._started = True
        if loaded:
            self.log.info('%d alert(s) left by the previous run loaded from %s', len(loaded), self._spool.dir)
        self._ensure_worker(first=True)
        return self

    def add(self, finding):
        """Queue one suspicious Finding; True if queued, False if a duplicate.  Never blocks on the network."""
        if not self.route.wants(finding):
            return False
        now = self.clock()
        key = dedupe_key(finding)
        with self._lock:
            last = self._seen.get(key)
            period = self.route.dedupe_period
            if last is not None and period > 0 and now - last < period:
                self._counts['suppressed_duplicates'] += 1
                self.log.info('not alerting again (same content alerted %d s ago): %s',
                              now - last, escape.escape_name(finding.path))
                return False
            self._seen[key] = now
            if len(self._pending) >= self.max_pending:
                # The mail route has been down through a flood: keep memory and disk bounded.
                # The file is in the new-files log; the next mail counts it in "and N more".
                self._overflow += 1
                if self._overflow == 1:
                    self.log.error('%d alerts are waiting for the %s route; further alerts are only '
                                   'counted until they are sent', len(self._pending), self.route.what)
                return True
            self._seq += 1
            alert = Alert('%d-%06d-%s' % (int(time.time() * 1000), self._seq, os.urandom(4).hex()),
                          finding, now, key, self._seq)
        spooled = self._spool.write_alert(alert)
        with self._lock:
            self._pending.append(alert)
            if not spooled:
                self._unspooled.add(alert.id)
            self._wake.notify_all()
        self._ensure_worker()
        return True

    def kick(self):
        """Make the worker look at the clock now (tests call it after advancing a fake clock)."""
        with self._lock:
            self._wake.notify_all()

    def close(self, timeout=5.0, flush=False):
        """Stop the worker; unsent alerts stay in the spool.  `flush` first tries to send what
        the batch window still holds (the cap and a retry backoff are respected)."""
        with self._lock:
            self._stopping = True
            self._flush = flush
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                self.log.warning('alert worker still busy after %g s (%s server slow?); '
                                 'unsent alerts stay in %s', timeout, self.route.what,
                                 self._spool.dir)
        with self._lock:
            lost = len(self._unspooled)
            left = len(self._pending)
        if lost:
            self.log.error('%d alert(s) were never spooled (spool %s unusable) and are lost', lost,
                           self._spool.dir)
        elif left:
            self.log.info('%d alert(s) not sent by %s yet; they stay in %s for the next start', left,
                          self.route.what, self._spool.dir)

    def stats(self):
        self._ensure_worker()
        with self._lock:
            out = dict(self._counts)
            out['queued'] = len(self._pending)
            out['overflow'] = self._overflow
            out['unspooled'] = len(self._unspooled)
            out['worker_alive'] = bool(self._thread and self._thread.is_alive())
            out['retry_at'] = self._retry_at          # clock() time of the next retry, 0 if none
        return out

    # -- the worker -----------------------------------------------------------------------

    def _ensure_worker(self, first=False):
        """Start the worker, or restart one that died (it should not; the daemon survives it if it does)."""
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if alive or self._stopping or not self._started:
                return
            if not first:
                self._counts['worker_restarts'] += 1
                self.log.error('alert worker thread had died; starting a new one')
            # Started under the lock, so two callers can never start two workers.
            self._thread = threading.Thread(target=self._run, name='newfilewatch-alerts')
            self._thread.daemon = True      # a hung mail server must not keep the process alive
            self._thread.start()

    def _run(self):
        while True:
            try:
                self._loop()
                return
            except Exception:
                self.log.exception('alert worker failed unexpectedly; restarting it')
                with self._lock:
                    self._counts['worker_restarts'] += 1
                    if self._stopping:
                        return
                    self._wake.wait(min(self.poll_interval, 1.0))

    def _loop(self):
        while True:
            self._respool()
            with self._lock:
                now = self.clock()
                self._sent_times = [t for t in self._sent_times if t > now - HOUR]
                if not self._pending and not self._overflow:
                    self._counts['deferred'] = 0
                    if self._stopping:
                        return
                    self._wake.wait(self.poll_interval)
                    continue
                oldest = self._pending[0].queued if self._pending else 0.0   # only a count left
                at, why = send_at(now, oldest, self._sent_times, self.route.batch_window,
                                  self.route.max_per_hour, self._retry_at, flush=self._stopping and self._flush)
                if at > now:
                    self._counts['deferred'] = len(self._pending) if why in ('cap', 'retry') else 0
                    if self._stopping:
                        return
                    self._wake.wait(min(at - now, self.poll_interval))
                    continue
                self._counts['deferred'] = 0
                batch = list(self._pending)
            self._deliver(batch)
            with self._lock:
                if self._stopping:
                    return

    def _respool(self):
        """Try again to put memory-only alerts on disk (the spool may have been fixed)."""
        with self._lock:
            todo = [a for a in self._pending if a.id in self._unspooled]
        for alert in todo:
            if not self._spool.write_alert(alert):
                return
            with self._lock:
                self._unspooled.discard(alert.id)

    def _deliver(self, batch):
        with self._spool.locked():
            self._deliver_locked(batch)

    def _deliver_locked(self, batch):
        gone = [a for a in batch if a.id not in self._unspooled and not self._spool.has_alert(a.id)]
        if gone and self._spool.ok:
            # Removed since we loaded them: mailed by another desk on this spool (or by the admin).
            ids = set(a.id for a in gone)
            self.log.info('%d alert(s) already handled by another process; not mailing them', len(ids))
            with self._lock:
                self._pending = [a for a in self._pending if a.id not in ids]
            batch = [a for a in batch if a.id not in ids]
            if not batch:
                return
        with self._lock:
            overflow = self._overflow
        if not getattr(self.route, 'per_alert', False):
            return self._deliver_part(batch, overflow, True)
        # A route that delivers alert by alert (a webhook POST each): acknowledged one by one,
        # so a failure half-way keeps only the alerts not yet accepted.
        first = True
        for i, alert in enumerate(batch):
            if not self._deliver_part([alert], 0, first, rest=batch[i:]):
                return
            first = False
        if overflow:
            self._deliver_part([], overflow, first)

    def _deliver_part(self, batch, overflow, new_round, rest=None):
        """Hand `batch` to the route, acknowledge what it accepted; False when it failed."""
        try:
            result = self.route.deliver(batch, overflow)
        except Exception as exc:                    # a bug must not lose alerts or kill the worker
            self.log.exception('%s: unexpected error', self.route.what)
            result = Delivery((), 'unexpected %s: %s' % (exc.__class__.__name__, exc), False)
        done = set(result.done)
        if done or result.overflow_done:
            self._accepted([a for a in batch if a.id in done], [a.id for a in batch if a.id in done],
                           overflow if result.overflow_done else 0, new_round)
        if result.error is not None:
            self._failed([a for a in (rest or batch) if a.id not in done], result.error)
            return False
        return True

    def _failed(self, batch, reason):
        with self._lock:
            self._counts['failures'] += 1
            self._failures_in_row += 1
            delay = backoff(self._failures_in_row, self.retry_base, self.retry_max)
            self._retry_at = self.clock() + delay
        self.log.warning('%s via %s failed: %s; %d alert(s) kept in %s, retry in %d s',
                         self.route.what, self.route.describe(), reason, len(batch), self._spool.dir,
                         delay)

    def _accepted(self, batch, ids, overflow, new_round=True):
        sent = set(ids)
        with self._lock:
            now = self.clock()
            if new_round:
                self._sent_times.append(now)
            self._overflow -= overflow
            self._counts['sent_mails'] += 1
            self._counts['sent_alerts'] += len(batch) + overflow
            self._retry_at = 0.0
            self._failures_in_row = 0
            self._pending = [a for a in self._pending if a.id not in sent]
            self._unspooled -= sent
            period = self.route.dedupe_period
            self._seen = {k: t for k, t in self._seen.items() if now - t < period}
            state = {'version': FORMAT_VERSION, 'dedupe': dict(self._seen),
                     'sent_times': list(self._sent_times), 'acked': list(self._acked) + ids,
                     'overflow': self._overflow}
        # The point of no resend: from here on a restart deletes these alerts instead of mailing them.
        self._spool.write_state(state)
        leftover = [i for i in state['acked'] if not self._spool.remove_alert(i)]
        with self._lock:
            self._acked = leftover
        self.log.info('%s sent via %s: %d alert(s)', self.route.what, self.route.describe(),
                      len(batch) + overflow)


class AlertDesk(Desk):
    """The desk of the admin's alert mail (MailRoute), under its historical name and signature.

    `send` replaces mailer.send (tests), `detail_limit` is how many findings a mail shows in full.
    """

    def __init__(self, mail_cfg, host, ip, new_files_log='', clock=time.time, logger=None,
                 retry_base=RETRY_BASE, retry_max=RETRY_MAX, detail_limit=DETAIL_LIMIT,
                 poll_interval=POLL_INTERVAL, send=None, max_pending=MAX_PENDING):
        logger = logger or logging.getLogger('newfilewatch.alerts')
        route = MailRoute(mail_cfg, host, ip, new_files_log, send, detail_limit, logger)
        Desk.__init__(self, route, clock=clock, logger=logger, retry_base=retry_base,
                      retry_max=retry_max, poll_interval=poll_interval, max_pending=max_pending)
        self.cfg = mail_cfg
