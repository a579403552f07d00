"""The running watcher: wires config -> watcher -> pipeline -> outputs and runs the main loop.

Used in the foreground by `newfilewatch run --foreground` and inside the daemon by daemon.py.
Signals only *record* a request (`request()`), waking the loop through a self-pipe; the loop
then stops, reloads or reopens, with a log line for each, as supervisor does.
"""
import collections
import errno
import functools
import logging
import logging.handlers
import os
import select
import time

# Everything is imported here, before the daemon drops privileges: the service user may not
# be able to read the interpreter's or this package's files afterwards (e.g. under /root).
from newfilewatch import alerts
from newfilewatch import config as configmod
from newfilewatch import fanwatch
from newfilewatch import hooks as hooksmod
from newfilewatch import owners
from newfilewatch import safefile
from newfilewatch import state
from newfilewatch import sysctl
from newfilewatch import webhook
from newfilewatch import wordpress
from newfilewatch.escape import escape_name
from newfilewatch.engine import Engine
from newfilewatch.integrity import Integrity
from newfilewatch.pipeline import Pipeline
from newfilewatch.rules import PathRules
from newfilewatch.scanner import Scanner
from newfilewatch.sinks import LineFile, Outputs

log = logging.getLogger('newfilewatch')
STATE_EVERY = 10.0       # seconds between saves of the catch-up time
SCAN_SLICE = 0.05        # seconds of scanning between two drains of the inotify fd
READS_PER_TURN = 64      # inotify reads per turn before scanning again


class ServiceError(Exception):
    """A fatal problem at start, said in one line for the admin."""


@functools.lru_cache(maxsize=2)
def make_engine(scan_cfg):
    """The rule engine for a [scan] section; cached because compiling it costs a noticeable part
    of start-up and `load_config` already built it once to validate the rule names."""
    # hook (issue 13): integrity.* names are valid in disabled_rules; integrity.py honours them
    scan_cfg = scan_cfg._replace(disabled_rules=tuple(
        r for r in scan_cfg.disabled_rules if r not in wordpress.RULES))
    try:
        return Engine.from_config(scan_cfg, logger=log)
    except ValueError as exc:
        raise configmod.ConfigError('(config)', ['[scan] %s' % exc])


def make_scanner(cfg, live=True):
    """The scanner for a config; `live` (the daemon) uses WordPress checksums only to skip
    known-good files, fetched in the background (see integrity.py)."""
    return Scanner(make_engine(cfg.scan), cfg.scan.max_bytes, cfg.scan.allow_sha256,
                   integrity=Integrity.from_config(cfg.integrity, cfg.scan, live=live, logger=log))


def configure_logging(cfg, foreground):
    """Root handlers for the daemon log: file, syslog, and stderr in the foreground."""
    root = logging.getLogger('newfilewatch')
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(getattr(logging, cfg.log.level.upper()))
    root.propagate = False
    fmt = logging.Formatter('%(asctime)s %(levelname)s %(message)s')
    problems = []
    if foreground:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter('newfilewatch: %(levelname)s %(message)s'))
        root.addHandler(handler)
    if cfg.log.log_file:
        try:
            parent = os.path.dirname(cfg.log.log_file)
            if parent and not os.path.isdir(parent):
                safefile.make_dirs(parent, 0o750)
            # WatchedFileHandler reopens by itself when logrotate moves the file; this one
            # never opens through a link planted at the log path
            handler = safefile.LogFileHandler(cfg.log.log_file)
            handler.setFormatter(fmt)
            root.addHandler(handler)
        except OSError as exc:
            problems.append('cannot write log file %s: %s' % (cfg.log.log_file, exc.strerror))
    if cfg.log.syslog:
        if os.path.exists(cfg.log.syslog_socket):
            try:
                handler = logging.handlers.SysLogHandler(
                    cfg.log.syslog_socket, facility=logging.handlers.SysLogHandler.facility_names[
                        cfg.log.syslog_facility])
                handler.setFormatter(logging.Formatter('newfilewatch[%(process)d]: %(message)s'))
                root.addHandler(handler)
            except OSError as exc:
                problems.append('syslog unavailable at %s: %s' % (cfg.log.syslog_socket, exc))
        elif not foreground:
            problems.append('syslog unavailable: no %s' % cfg.log.syslog_socket)
    if not root.handlers:
        root.addHandler(logging.NullHandler())
    for problem in problems:
        root.warning(problem)
    return problems


class Service(object):
    """Everything that runs; `open()` makes the I/O objects, `run()` loops, `close()` undoes."""

    def __init__(self, config, events=None, foreground=False, marks=None, notes=()):
        self.config = config
        self.marks = marks            # fanotify marks made before a privilege drop (daemon.py)
        self.notes = list(notes)      # from the privilege drop, logged once logging is up
        self.events_path = events
        self.foreground = foreground
        self.requests = []
        self.watcher = self.pipeline = self.outputs = self.desk = self.hooks = None
        self.desks = []
        self.caught_up = time.time()
        self._wake_r = self._wake_w = None
        self._saved_at = 0.0
        self.errors = collections.deque(maxlen=100)   # times of recent main-loop errors

    # -- requests (signal handlers call this) ---------------------------------------------------
    def request(self, what):
        self.requests.append(what)
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b'.')
            except OSError:
                pass

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self):
        cfg = self.config
        problems = configure_logging(cfg, self.foreground)
        for note in self.notes:
            log.warning('%s', note)
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        try:
            self._build(cfg)
            self._refuse_blind_logs(problems)
            since = state.load(cfg.watch.state_file)
            if since is not None:
                self.caught_up = since           # until the catch-up below is handled
            count = self.watcher.start(since=since)
        except (OSError, configmod.ConfigError) as exc:
            raise ServiceError(str(exc))
        if not self.watcher.roots:
            log.warning('no watch dir exists among: %s', ', '.join(cfg.watch.dirs))
        self._check_limit(count)
        self.caught_up = time.time()
        log.info('watching %d dirs under %s%s', count, self._roots_text() or '(none)',
                 ' (catching up on changes since %s)' % time.ctime(since) if since else '')
        self.outputs.emit('ready', time.time(), watches=count,
                          roots=[escape_name(r) for r in self.watcher.roots],
                          backend=getattr(self.watcher, 'backend', 'inotify'))
        return count

    def _refuse_blind_logs(self, problems):
        """The daemon does not start when it cannot write its logs: it would watch and report
        nothing (the init script said [ OK ]).  In the foreground the console still shows all."""
        if self.foreground:
            return
        blind = [p for p in problems if p.startswith('cannot write log file')]
        sink = self.outputs.new_files
        if sink is not None and sink.fh is None:
            blind.append('cannot write the new-files log %s: %s' % (sink.path, sink.error))
        if blind:
            raise ServiceError('; '.join(blind))

    def _build(self, cfg):
        rules = PathRules.from_config(cfg)
        scanner = make_scanner(cfg)
        self._make_outputs(cfg)
        self.pipeline = Pipeline(scanner, rules, self.outputs)
        self.watcher = fanwatch.make_watcher(
            cfg, rules, self._offer, marks=self.marks, logger=log,
            walk_error=lambda path, msg: self.outputs.emit(
                'error', time.time(), path=path, message=msg))

    def _offer(self, candidate):
        """A catch-up walk's files may be older than now: they carry the walk's `since`.  A
        backend that does not say (fanotify) gets the last saved catch-up time for files it
        found by walking, so a stop never saves a later one while they wait."""
        floor = getattr(self.watcher, 'walk_floor', None)
        if floor is None and candidate.synthetic and self.watcher is not None and \
                not hasattr(self.watcher, 'walk_floor'):
            floor = self.caught_up
        self.pipeline.offer(candidate, floor)

    def _make_outputs(self, cfg):
        events_path = self.events_path or cfg.log.events_file or None
        self.desk = self._make_desk(cfg)
        self.desks = self._make_route_desks(cfg)
        self.hooks = self._make_hooks(cfg)
        self.outputs = Outputs(
            new_files=LineFile(cfg.log.new_files_log) if cfg.log.new_files_log else None,
            events=LineFile(events_path) if events_path else None,
            desk=self.desk, console=self.foreground, desks=self.desks, hooks=self.hooks)
        return self.outputs

    def _make_desk(self, cfg):
        if not cfg.mail.to:
            return None
        host, ip = alerts.host_and_ip()
        desk = alerts.AlertDesk(cfg.mail, host, ip, new_files_log=cfg.log.new_files_log, logger=log)
        desk.start()
        return desk

    def _make_route_desks(self, cfg):
        """The webhook and the owners' mail: the same desk as the admin's mail, own spool dirs."""
        host, ip = alerts.host_and_ip()
        desks = []
        if cfg.hooks.webhook_url:
            route = webhook.WebhookRoute(
                cfg.hooks.webhook_url, os.path.join(cfg.mail.spool_dir, 'webhook'), host,
                timeout=cfg.hooks.webhook_timeout, batch_window=cfg.hooks.webhook_batch_window,
                max_per_hour=cfg.hooks.webhook_max_per_hour, dedupe_period=cfg.mail.dedupe_period,
                log_path=cfg.log.new_files_log, logger=log)
            desks.append(alerts.Desk(route, logger=log))
        if cfg.mail.notify_owner:
            route = owners.OwnerMailRoute(cfg.mail, host, ip, os.path.join(cfg.mail.spool_dir, 'owners'),
                                          owners.AddressBook.from_config(cfg.mail, logger=log),
                                          logger=log)
            desks.append(alerts.Desk(route, logger=log))
        for desk in desks:
            desk.start()
        return desks

    def _make_hooks(self, cfg):
        """The admin's [hooks] command, and the auto-quarantine helper (see README, Quarantine)."""
        def done(runner, path, result, words, lines):
            if self.outputs is not None:
                self.outputs.emit('hook', time.time(), path=path, hook=runner.name,
                                  status=result.status, exit=result.code, result=words,
                                  output=lines, seconds=round(result.seconds, 3))
        runners = []
        if cfg.hooks.command:
            runners.append(hooksmod.HookRunner(
                hooksmod.parse_command(cfg.hooks.command), cfg.hooks.timeout,
                cfg.hooks.max_running, cfg.hooks.max_queued, logger=log, on_done=done))
        if cfg.response.auto_quarantine:
            runners.append(hooksmod.HookRunner(
                hooksmod.parse_command(cfg.response.auto_quarantine_command), cfg.hooks.timeout,
                1, cfg.hooks.max_queued, logger=log, on_done=done, name='auto_quarantine',
                only=lambda f: any(h.severity == 'critical' for h in f.hits)))
        return [r.start() for r in runners]

    def _close_routes(self, flush):
        for desk in self.desks:
            try:
                desk.close(flush=flush)
            except Exception:
                log.exception('error while flushing alerts')
        self.desks = []
        for runner in self.hooks or ():
            try:
                runner.close(timeout=2.0)        # within [daemon] stop_timeout with the desks
            except Exception:
                log.exception('error while stopping hooks')
        self.hooks = []

    def _roots_text(self):
        # roots come from globs such as /home/*/public_html: their names are not the admin's
        return ', '.join(escape_name(r) for r in self.watcher.roots)

    def _check_limit(self, count):
        limit = sysctl.watch_limit()
        if limit and count >= 0.8 * limit:
            log.warning('%d watches in use of fs.inotify.max_user_watches=%d: raise it with '
                        '`newfilewatch tune-sysctl` (sets 524288)', count, limit)

    def close(self):
        if self.desk is not None:
            try:
                self.desk.close(flush=True)     # what is still inside the batch window goes out
            except Exception:
                log.exception('error while flushing alerts')
            self.desk = None
        self._close_routes(flush=True)
        for closer in (self.watcher, self.outputs):
            if closer is not None:
                try:
                    closer.close()
                except Exception:
                    log.exception('error while closing')
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        self._wake_r = self._wake_w = None

    # -- the loop -------------------------------------------------------------------------------
    def run(self):
        poller = select.poll()
        poller.register(self.watcher.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            if self.requests and not self._handle_requests(poller):
                break
            now = time.time()
            if len(self.pipeline):
                timeout = 0
            else:
                timeout = max(0.0, min(self.watcher.next_deadline() - now, 1.0))
            try:
                poller.poll(int(timeout * 1000))
            except OSError as exc:          # EINTR on 3.4 and older only
                if exc.errno != errno.EINTR:
                    raise
            self._drain_wakeups()
            try:
                self.turn()
            except Exception:             # a bug must not silence the watcher for good
                self.errors.append(time.time())
                log.exception('error in the main loop (%d recently); going on', len(self.errors))
                if len(self.errors) == self.errors.maxlen and \
                        self.errors[-1] - self.errors[0] < 60:
                    log.critical('too many errors in a minute: stopping')
                    raise
        self._save_state(force=True)
        log.info('stopped')
        return 0

    def turn(self):
        """One round: drain the kernel queue, run timers, scan a slice, save state now and then."""
        for _ in range(READS_PER_TURN):
            if not self.watcher.read():
                break
        now = time.time()
        self.watcher.tick(now)
        self.pipeline.drain(SCAN_SLICE)
        self._save_state()

    def catch_up_mark(self, now):
        """Until when every change was handled: never past a file still queued, still open,
        lost in an overflow not yet rescanned, or not taken by the new-files log."""
        marks = [now]
        oldest = self.pipeline.oldest()
        if oldest is not None:
            marks.append(oldest)
        created = getattr(self.watcher, 'created', None)
        if created:      # inotify: path -> time; fanotify: path -> (time, writer)
            marks.append(min(v[0] if isinstance(v, tuple) else v for v in created.values()))
        if self.watcher.overflow_since is not None:
            marks.append(self.watcher.overflow_since)
        return min(marks)

    def _save_state(self, force=False):
        now = time.time()
        if force or now - self._saved_at >= STATE_EVERY:
            self._saved_at = now
            self.caught_up = self.catch_up_mark(now)
            state.save(self.config.watch.state_file, self.caught_up)

    def _drain_wakeups(self):
        try:
            while os.read(self._wake_r, 512):
                pass
        except OSError:
            pass

    def _handle_requests(self, poller):
        """Act on recorded signals in order; False means stop."""
        while self.requests:
            what = self.requests.pop(0)
            if what == 'stop':
                # Promptly: what is still queued is left to the next start's catch-up scan
                # (the saved catch-up time stays at the oldest of it), so a slow file cannot
                # hold the stop until stop_timeout's SIGKILL, which would save nothing.
                log.info('stop requested%s', ' (%d queued file(s) left to the catch-up scan '
                         'of the next start)' % len(self.pipeline) if len(self.pipeline) else '')
                return False
            if what == 'reopen':
                log.info('reopening log files')
                self.outputs.reopen()
                configure_logging(self.config, self.foreground)
            elif what == 'reload':
                self.reload(poller)
        return True

    def reload(self, poller=None):
        """Re-read the config file; a broken one is refused and the running config kept."""
        old = self.config
        try:
            new = configmod.load(old.path) if old.path else configmod.load(None)
            if old.watch_override:
                new = configmod.with_watch_dirs(new, old.watch_override)
            rules = PathRules.from_config(new)
            scanner = make_scanner(new)
        except configmod.ConfigError as exc:
            log.error('reload refused, keeping the running config: %s', '; '.join(exc.problems))
            self.outputs.emit('error', time.time(), message='reload refused: %s' % '; '.join(
                exc.problems))
            return False
        self.config = new
        configure_logging(new, self.foreground)
        self.pipeline.scanner, self.pipeline.rules = scanner, rules
        if new.watch.allow_root_links != old.watch.allow_root_links:
            self.watcher.allow_root_links = new.watch.allow_root_links
            self.watcher.reconfigure(new.watch.dirs, rules)
        if (new.watch.dirs, rules) != (old.watch.dirs, self.watcher.rules):
            count = self.watcher.reconfigure(new.watch.dirs, rules)
            log.info('watching %d dirs under %s', count, self._roots_text())
        if new.watch.backend != old.watch.backend:
            log.warning('[watch] backend = %s takes effect at the next restart', new.watch.backend)
        self.watcher.settle_delay = new.watch.settle_delay
        self.watcher.sweep_interval = new.watch.sweep_interval
        if (new.log, new.mail, new.hooks, new.response) != (old.log, old.mail, old.hooks,
                                                             old.response):
            self._swap_outputs(new)
        log.info('config reloaded from %s', new.path or 'built-in defaults')
        self.outputs.emit('reloaded', time.time(), watches=len(self.watcher.paths))
        return True

    def _swap_outputs(self, cfg):
        if self.desk is not None:
            self.desk.close()
        self._close_routes(flush=False)
        self.outputs.close()
        self.pipeline.sinks = self._make_outputs(cfg)
