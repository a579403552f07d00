"""The service as a SysV daemon: start (detached, as the service user), stop, status, reload.

python-daemon's DaemonContext does the classic steps; its order inside open() shapes this file:
umask, chdir, setgid/setuid, double fork + setsid, signal handlers, close every fd not in
files_preserve, stdio to /dev/null, and only then the pidfile.  Hence:
- the pidfile's directory must already be writable by the service user (made here as root);
- the Service (log handlers, inotify fd) is built after open(), in the daemon itself;
- fanotify marks need root: they are made before open(), and their fds (the group, one dir
  per marked mount) are carried through in files_preserve (fanwatch.prepare);
- the only other fd carried through is a pipe on which the daemon tells the waiting `start` command
  "ready N PID" once its watches are in place, or the reason it could not start.  So `start`
  returns when the daemon really works, and an init script's [  OK  ] means something.

Signal handlers only record a request (stop / reload / reopen); the Service's main loop acts.
Works with python-daemon 2.3.x (Python 3.6, EL7/EL8) and 3.x: only long-standing arguments used.
"""
import errno
import logging
import os
import signal
import sys
import time

from newfilewatch import config as config_mod
from newfilewatch import privileges
from newfilewatch import throttle

PROG = 'newfilewatch'
UMASK = 0o027
SIGNAL_REQUESTS = {signal.SIGTERM: 'stop', signal.SIGHUP: 'reload', signal.SIGUSR1: 'reopen'}

log = logging.getLogger('newfilewatch.daemon')


# --- pidfile and process facts -------------------------------------------------------------

def parse_pid(text):
    """The pid in a pidfile's text, or None when it is not a positive integer."""
    try:
        pid = int(text.strip().split()[0])
    except (ValueError, IndexError, AttributeError):
        return None
    return pid if pid > 0 else None


def _proc_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as fh:
            return fh.read().rpartition(')')[2].split()[0]
    except (OSError, IOError, IndexError):
        return None


def alive(pid):
    """True while `pid` exists and is not a zombie (a container's init may never reap it)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return False
        if exc.errno != errno.EPERM:
            raise
    return _proc_state(pid) not in ('Z', 'X')


def pidfile_state(path):
    """('stopped', None) no pidfile; ('running', pid); ('dead', pid or None) stale or garbage."""
    try:
        with open(path) as fh:
            text = fh.read()
    except (OSError, IOError) as exc:
        if exc.errno == errno.ENOENT:
            return 'stopped', None
        raise
    pid = parse_pid(text)
    if pid is not None and alive(pid):
        return 'running', pid
    return 'dead', pid


def _remove(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def wait_for(predicate, timeout, interval=0.05):
    """Poll `predicate` until true or `timeout` seconds pass; returns its last value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def service_dirs(cfg):
    """Directories (or (dir, mode)) the service writes to; they must belong to the service user."""
    dirs = [(os.path.dirname(cfg.daemon.pidfile), 0o755), os.path.dirname(cfg.log.log_file),
            os.path.dirname(cfg.log.new_files_log), os.path.dirname(cfg.watch.state_file),
            cfg.mail.spool_dir]
    if cfg.log.events_file and cfg.log.events_file != '-':
        dirs.append(os.path.dirname(cfg.log.events_file))
    seen, out = set(), []
    for d in dirs:
        path = d[0] if isinstance(d, tuple) else d
        if path and path not in seen:
            seen.add(path)
            out.append(d)
    return out


# --- the daemon side -----------------------------------------------------------------------

class _Requests(object):
    """Signal handlers write here; requests made before the Service exists wait for it."""

    def __init__(self):
        self.service = None
        self.pending = []

    def handler(self, what):
        def handle(signum, frame):
            self.request(what)
        return handle

    def request(self, what):
        if self.service is None:
            self.pending.append(what)
        else:
            self.service.request(what)

    def attach(self, service):
        self.service = service
        while self.pending:
            service.request(self.pending.pop(0))


def signal_map(requests):
    mapping = {signum: requests.handler(what) for signum, what in SIGNAL_REQUESTS.items()}
    for name in ('SIGTSTP', 'SIGTTIN', 'SIGTTOU'):
        mapping[getattr(signal, name)] = None        # ignored, as python-daemon's default map does
    return mapping


def install_signal_handlers(service):
    """The same signal map for `run --foreground` (no DaemonContext there)."""
    requests = _Requests()
    requests.attach(service)
    for signum, what in SIGNAL_REQUESTS.items():
        signal.signal(signum, requests.handler(what))


def _tell(fd, message):
    try:
        os.write(fd, message.encode('utf-8', 'replace'))
    except OSError:
        pass
    try:
        os.close(fd)
    except OSError:
        pass


def _make_context(cfg, target, ready_fd, requests, keep=()):
    import daemon                      # python-daemon; imported here so `status` needs none of it
    import daemon.pidfile
    kwargs = dict(working_directory='/', umask=UMASK, detach_process=True,
                  files_preserve=[ready_fd] + list(keep), signal_map=signal_map(requests),
                  pidfile=daemon.pidfile.TimeoutPIDLockFile(cfg.daemon.pidfile, acquire_timeout=0))
    if target is not None:
        kwargs.update(uid=target.uid, gid=target.gid)   # groups were already set by begin_drop
    return daemon.DaemonContext(**kwargs)


def _daemon_main(cfg, options, target, ready_fd):
    """Runs in a child of `start`; returns the exit code of the daemon (or of a failed start)."""
    from newfilewatch.service import Service, ServiceError
    from newfilewatch import fanwatch
    requests = _Requests()
    notes = throttle.apply_config(cfg.daemon)       # as root still: a negative nice is allowed
    try:
        # fanotify marks need root (CAP_SYS_ADMIN): made now, their fds kept over the drop
        marks = fanwatch.prepare(cfg.watch.dirs, cfg.watch.backend)
        if target is not None:
            notes += privileges.begin_drop(target)
        context = _make_context(cfg, target, ready_fd, requests,
                                keep=marks.fds() if marks is not None else ())
        context.open()
    except Exception as exc:
        _tell(ready_fd, 'cannot become a daemon: %s' % _reason(exc, cfg))
        return 1
    # From here on: the detached grandchild, as the service user, pidfile written.
    if target is not None:
        notes += privileges.finish_drop()
    service = None
    try:
        service = Service(cfg, getattr(options, 'events', None), marks=marks)
        count = service.open()
    except ServiceError as exc:
        _tell(ready_fd, str(exc))
        _close(service, context)
        return 1
    except Exception as exc:
        _tell(ready_fd, 'unexpected error while starting: %r' % (exc,))
        _close(service, context)
        return 1
    for note in notes:
        log.warning('%s', note)
    requests.attach(service)
    log.info('daemon pid %d running as uid %d gid %d', os.getpid(), os.getuid(), os.getgid())
    _tell(ready_fd, 'ready %d %d' % (count, os.getpid()))
    try:
        return service.run() or 0
    finally:
        _close(service, context)


def _reason(exc, cfg):
    name = type(exc).__name__
    if name in ('AlreadyLocked', 'LockTimeout'):
        return 'pidfile %s is locked: already running?' % cfg.daemon.pidfile
    if name == 'LockFailed':
        return 'cannot create pidfile %s: %s' % (cfg.daemon.pidfile, exc)
    return str(exc) or name


def _close(service, context):
    if service is not None:
        try:
            service.close()
        except Exception:
            log.exception('error while closing the service')
    context.close()
    logging.shutdown()


# --- the commands (run by the CLI in the admin's process) ----------------------------------

def _send(pid, signum):
    """Signal the daemon; False (and the reason on stderr) when that is not possible."""
    try:
        os.kill(pid, signum)
        return True
    except OSError as exc:
        _err('cannot signal pid %d: %s' % (pid, exc.strerror))
        return False


def _err(message):
    sys.stderr.write('%s: %s\n' % (PROG, message))


def _target_for(cfg):
    """The user to drop to: only when started as root, and never 'root' itself."""
    if os.geteuid() != 0:
        return None
    target = privileges.lookup(cfg.daemon.user)
    return None if target.uid == 0 else target


def start(cfg, options):
    """Start the daemon and return 0 once its watches are in place, else 1 with the reason.

    `cfg` already has --watch applied (the CLI does it); `options.events` is passed on.
    """
    pidfile = cfg.daemon.pidfile
    try:
        state, pid = pidfile_state(pidfile)
    except (OSError, IOError) as exc:
        _err('cannot read pidfile %s: %s' % (pidfile, exc))
        return 1
    if state == 'running':
        _err('already running (pid %d, pidfile %s)' % (pid, pidfile))
        return 1
    if state == 'dead':
        _err('removing stale pidfile %s (pid %s is gone)' % (pidfile, pid))
        _remove(pidfile)
    try:
        target = _target_for(cfg)
        privileges.prepare_dirs(service_dirs(cfg), target)
    except (privileges.PrivilegeError, OSError) as exc:
        _err(str(exc))
        return 1

    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:                                    # pragma: no cover (runs in the child)
        code = 1
        try:
            os.close(read_fd)
            code = _daemon_main(cfg, options, target, write_fd)
        except BaseException as exc:
            _tell(write_fd, 'daemon failed: %r' % (exc,))
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(child, 0)
    message = b''.join(chunks).decode('utf-8', 'replace').strip()
    words = message.split()
    if len(words) == 3 and words[0] == 'ready':
        sys.stdout.write('%s started: pid %s, %s watches\n' % (PROG, words[2], words[1]))
        return 0
    _err('not started: %s' % (message or 'the daemon exited before it was ready (see its log)'))
    return 1


def stop(cfg):
    """SIGTERM, wait up to [daemon] stop_timeout, then SIGKILL.  0 when it is not running after."""
    pidfile = cfg.daemon.pidfile
    state, pid = pidfile_state(pidfile)
    if state != 'running':
        if state == 'dead':
            _remove(pidfile)
        sys.stdout.write('%s is not running\n' % PROG)
        return 0
    if not _send(pid, signal.SIGTERM):
        return 1
    if not wait_for(lambda: not alive(pid), cfg.daemon.stop_timeout):
        _err('pid %d still running after %ds: sending SIGKILL' % (pid, cfg.daemon.stop_timeout))
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        if not wait_for(lambda: not alive(pid), 10):
            _err('pid %d survived SIGKILL' % pid)
            return 1
    _remove(pidfile)            # normally gone already; not after SIGKILL
    sys.stdout.write('%s stopped (pid %d)\n' % (PROG, pid))
    return 0


def status(cfg):
    """LSB status: 0 running, 1 dead but pidfile exists, 3 not running, 4 unknown."""
    try:
        state, pid = pidfile_state(cfg.daemon.pidfile)
    except (OSError, IOError) as exc:
        sys.stdout.write('%s status unknown: %s\n' % (PROG, exc))
        return 4
    if state == 'running':
        sys.stdout.write('%s (pid %d) is running...\n' % (PROG, pid))
        return 0
    if state == 'dead':
        sys.stdout.write('%s dead but pid file exists\n' % PROG)
        return 1
    sys.stdout.write('%s is stopped\n' % PROG)
    return 3


def reload(cfg, config_path):
    """Check the config first (a broken one is never sent), then SIGHUP.  LSB: 6 bad, 7 stopped."""
    try:
        config_mod.load(config_path)
    except config_mod.ConfigError as exc:
        _err('not reloading, the config is broken:')
        for problem in exc.problems:
            sys.stderr.write('  %s: %s\n' % (exc.path, problem))
        return 6
    state, pid = pidfile_state(cfg.daemon.pidfile)
    if state != 'running':
        _err('not running')
        return 7
    if not _send(pid, signal.SIGHUP):
        return 1
    sys.stdout.write('%s: reload requested (pid %d)\n' % (PROG, pid))
    return 0
