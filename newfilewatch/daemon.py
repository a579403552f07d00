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
from newfilewatch import safefile
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


PIDFILE_MAX = 64                  # bytes: a pid and a newline; more is not a pidfile of ours


def read_pidfile(path):
    """The pidfile's text, or None when there is none.

    The pidfile lives in a dir the service user owns, so whatever is there may be planted:
    opened without following a link and without blocking (a FIFO would hang start/stop/status,
    a link to /dev/zero would be read until memory runs out), checked to be a regular file,
    and read up to PIDFILE_MAX bytes.  Raises safefile.UnsafePath for anything else.
    """
    try:
        data = safefile.read_small(path, PIDFILE_MAX + 1)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise safefile.UnsafePath(exc.errno, '%s is a symlink (not followed)' % path)
        raise
    if len(data) > PIDFILE_MAX:
        raise safefile.UnsafePath(errno.EFBIG, '%s is larger than a pidfile' % path)
    return data.decode('ascii', 'replace')


def looks_like_daemon(argv, exe):
    """True when a process's argv (list of str) and executable are newfilewatch under Python.

    Pure.  `exe` is /proc/PID/exe's target, or None when it cannot be read (another user's
    process seen by a non-root status): then argv[0] stands in for it.
    """
    if not argv:
        return False
    program = os.path.basename(exe or argv[0])
    if 'python' not in program:             # python3.6, platform-python (EL8)
        return False
    rest = argv[1:]
    for i, arg in enumerate(rest):
        if arg == '-m':
            return i + 1 < len(rest) and rest[i + 1] == PROG
        if not arg.startswith('-'):
            return os.path.basename(arg) == PROG          # the script: /usr/bin/newfilewatch
    return False


def _process_facts(pid):
    """(argv, exe, real uid) of a live process, or None when /proc does not say."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as fh:
            argv = [a.decode('utf-8', 'replace') for a in fh.read(65536).split(b'\0') if a]
        with open('/proc/%d/status' % pid) as fh:
            uid = privileges.parse_status(fh.read())['Uid'][0]
    except (OSError, IOError, KeyError, IndexError, ValueError):
        return None
    try:
        exe = os.readlink('/proc/%d/exe' % pid)
    except OSError:
        exe = None
    return argv, exe, uid


def daemon_uids(cfg):
    """Users the daemon may run as: root, the service user, and whoever runs this command."""
    uids = {0, os.getuid()}
    try:
        uids.add(privileges.lookup(cfg.daemon.user).uid)
    except privileges.PrivilegeError:
        pass
    return uids


def is_our_daemon(pid, uids=None):
    """Is `pid` really newfilewatch, run by one of `uids`?  Checked before any signal is sent,
    because the pidfile may name any process (the service user can write it)."""
    if pid == os.getpid():
        return False
    facts = _process_facts(pid)
    if facts is None:
        return False
    argv, exe, uid = facts
    return (uids is None or uid in uids) and looks_like_daemon(argv, exe)


def pidfile_state(path, uids=None):
    """('stopped', None) no pidfile; ('running', pid) our daemon; ('dead', pid or None) stale or
    garbage; ('foreign', pid) a live process that is not our daemon (never signalled);
    ('unsafe', reason) not a regular file (a link, a FIFO, too large): not read.

    `uids`: the users our daemon may run as (daemon_uids); None accepts any user.
    """
    try:
        text = read_pidfile(path)
    except safefile.UnsafePath as exc:
        return 'unsafe', exc.strerror
    if text is None:
        return 'stopped', None
    pid = parse_pid(text)
    if pid is None or not alive(pid):
        return 'dead', pid
    if not is_our_daemon(pid, uids):
        return 'foreign', pid
    return 'running', pid


def _state_of(cfg):
    """pidfile_state for the configured pidfile, with what is wrong said on stderr."""
    pidfile = cfg.daemon.pidfile
    state, pid = pidfile_state(pidfile, daemon_uids(cfg))
    if state == 'foreign':
        _err('pidfile %s names pid %d, which is not %s: not signalled' % (pidfile, pid, PROG))
    elif state == 'unsafe':
        _err('pidfile %s not read: %s' % (pidfile, pid))
    return state, pid


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


def service_files(cfg):
    """Files the service writes to (besides the pidfile, which only the daemon creates)."""
    files = [cfg.log.log_file, cfg.log.new_files_log, cfg.watch.state_file]
    if cfg.log.events_file and cfg.log.events_file != '-':
        files.append(cfg.log.events_file)
    spool = cfg.mail.spool_dir
    if spool:
        try:
            files.extend(os.path.join(spool, name) for name in os.listdir(spool))
        except OSError:
            pass
    return [f for f in files if f]


def prepare(cfg, target):
    """As root, before the drop: the service's dirs exist and are the service user's, and the
    files in them are usable by it (or PrivilegeError says on the console why not).

    Returns notes for the log (files taken over from root).
    """
    privileges.prepare_dirs(service_dirs(cfg), target)
    if target is None:
        return []
    return privileges.adopt_files(service_files(cfg), target)


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


def _daemon_main(cfg, options, target, ready_fd, prepared=()):
    """Runs in a child of `start`; returns the exit code of the daemon (or of a failed start)."""
    from newfilewatch.service import Service, ServiceError
    from newfilewatch import fanwatch
    requests = _Requests()
    notes = list(prepared)
    notes += throttle.apply_config(cfg.daemon)      # as root still: a negative nice is allowed
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


def drop_foreground(cfg):
    """`run --foreground` as root: prepare the service's dirs, make the fanotify marks (they
    need root) and drop to the service user, as the daemon does.  Where that user does not
    exist (the package was never installed) say so once and run on as root.

    Returns (marks or None, notes for the log); raises PrivilegeError when the dirs are unsafe
    or the drop cannot happen.  Not root: nothing to do.
    """
    if os.geteuid() != 0:
        return None, []
    from newfilewatch import fanwatch
    try:
        target = _target_for(cfg)
    except privileges.PrivilegeError as exc:
        _err('%s; running as root' % exc)
        target = None
    # No pidfile in the foreground: its dir is not needed.
    dirs = [d for d in service_dirs(cfg) if not isinstance(d, tuple)]
    privileges.prepare_dirs(dirs, target)
    marks = fanwatch.prepare(cfg.watch.dirs, cfg.watch.backend)
    if target is None:
        return marks, []
    notes = privileges.adopt_files(service_files(cfg), target)
    return marks, notes + privileges.drop_to(target)


def start(cfg, options):
    """Start the daemon and return 0 once its watches are in place, else 1 with the reason.

    `cfg` already has --watch applied (the CLI does it); `options.events` is passed on.
    """
    pidfile = cfg.daemon.pidfile
    try:
        state, pid = _state_of(cfg)
    except (OSError, IOError) as exc:
        _err('cannot read pidfile %s: %s' % (pidfile, exc))
        return 1
    if state == 'running':
        _err('already running (pid %d, pidfile %s)' % (pid, pidfile))
        return 1
    if state != 'stopped':
        _err('removing stale pidfile %s%s' % (pidfile, ' (pid %s is gone)' % pid
                                              if state == 'dead' else ''))
        _remove(pidfile)
    try:
        target = _target_for(cfg)
        prepared = prepare(cfg, target)
    except (privileges.PrivilegeError, OSError) as exc:
        _err('not started: %s' % (exc.strerror if isinstance(exc, safefile.UnsafePath) else exc))
        return 1

    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:                                    # pragma: no cover (runs in the child)
        code = 1
        try:
            os.close(read_fd)
            code = _daemon_main(cfg, options, target, write_fd, prepared)
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
    state, pid = _state_of(cfg)
    if state != 'running':
        if state != 'stopped':
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
        state, pid = _state_of(cfg)
    except (OSError, IOError) as exc:
        sys.stdout.write('%s status unknown: %s\n' % (PROG, exc))
        return 4
    if state == 'running':
        sys.stdout.write('%s (pid %d) is running...\n' % (PROG, pid))
        return 0
    if state == 'unsafe':
        sys.stdout.write('%s status unknown: %s\n' % (PROG, pid))
        return 4
    if state in ('dead', 'foreign'):
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
    state, pid = _state_of(cfg)
    if state != 'running':
        _err('not running')
        return 7
    if not _send(pid, signal.SIGHUP):
        return 1
    sys.stdout.write('%s: reload requested (pid %d)\n' % (PROG, pid))
    return 0


def reopen_logs(cfg):
    """SIGUSR1 (reopen the log files after rotation) to the verified daemon.

    0 also when it is not running: logrotate's postrotate must not fail for a stopped service.
    1 only when a running daemon could not be signalled.
    """
    try:
        state, pid = _state_of(cfg)
    except (OSError, IOError) as exc:
        _err('cannot read pidfile %s: %s' % (cfg.daemon.pidfile, exc))
        return 0
    if state != 'running':
        sys.stdout.write('%s is not running: no logs to reopen\n' % PROG)
        return 0
    if not _send(pid, signal.SIGUSR1):
        return 1
    sys.stdout.write('%s: log reopen requested (pid %d)\n' % (PROG, pid))
    return 0
