"""Be a polite neighbour on a busy shared server: CPU niceness and I/O priority, set at start.

The scan is CPU and the sweeps are disk reads; the customers' sites come first.  Both settings
are applied once, early, before any thread exists: on Linux a thread's niceness and I/O
priority are inherited by the threads and processes it starts afterwards (hook programs too),
but changing them later only changes the calling thread.

- CPU: os.setpriority(PRIO_PROCESS, 0, N) with the configured *absolute* value, not os.nice()'s
  increment, so a daemon restarted from an already niced shell does not add up.  A value below
  the current one needs root (CAP_SYS_NICE), so the daemon applies it before it drops to its
  user.
- I/O: the ioprio_set(2) syscall through ctypes.  Python has no wrapper, and running util-linux's
  `ionice -p PID` instead would mean a fork/exec of a program found by path at start (and one
  more package on minimal installs) for what is one syscall; glibc has no wrapper either, so
  the syscall number is per architecture.  The realtime class needs CAP_SYS_ADMIN (root);
  best-effort and idle do not.  Priorities only matter under the CFQ/BFQ I/O schedulers;
  elsewhere the kernel accepts and ignores them.
"""
import ctypes
import ctypes.util
import os
import platform

IOPRIO_CLASSES = {'none': 0, 'realtime': 1, 'best-effort': 2, 'idle': 3}
IOPRIO_CLASS_SHIFT = 13
IOPRIO_WHO_PROCESS = 1
# __NR_ioprio_set per architecture (the kernel's syscall tables).
_NR_IOPRIO_SET = {'x86_64': 251, 'i386': 289, 'i486': 289, 'i586': 289, 'i686': 289,
                  'aarch64': 30, 'armv7l': 314, 'armv6l': 314, 'ppc64le': 273, 'ppc64': 273,
                  'ppc': 273, 's390x': 282, 'riscv64': 30, 'mips64': 5273}


class ThrottleError(Exception):
    """A throttle setting could not be applied; str() says which and why."""


def ioprio_value(io_class, level):
    """The ioprio_set(2) value for a class name and level 0 (highest) .. 7 (lowest); pure."""
    number = IOPRIO_CLASSES[io_class]
    if io_class not in ('realtime', 'best-effort'):
        level = 0                    # idle and none have no levels
    return (number << IOPRIO_CLASS_SHIFT) | int(level)


def parse_ionice(text):
    """`--ionice` value: 'idle', 'best-effort', 'best-effort:7', 'realtime:0', or '2:7' as
    ionice -c/-n numbers; returns (class name, level) or raises ValueError."""
    name, _, level = str(text).strip().partition(':')
    by_number = {str(v): k for k, v in IOPRIO_CLASSES.items()}
    name = by_number.get(name, name)
    if name not in IOPRIO_CLASSES:
        raise ValueError('%r: the class is one of none, realtime, best-effort, idle (or 0-3)' % text)
    level = int(level) if level else 4
    if not 0 <= level <= 7:
        raise ValueError('%r: the level is 0 (highest) to 7 (lowest)' % text)
    return name, level


def set_nice(value):
    try:
        os.setpriority(os.PRIO_PROCESS, 0, int(value))
    except OSError as exc:
        raise ThrottleError('cannot set nice %d: %s%s' % (value, exc.strerror, (
            ' (a value below the current one needs root)') if value < 0 else ''))


def set_ionice(io_class, level):
    number = _NR_IOPRIO_SET.get(platform.machine())
    if number is None:
        raise ThrottleError('cannot set the I/O priority: ioprio_set is not known on %s'
                            % platform.machine())
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
    if libc.syscall(number, IOPRIO_WHO_PROCESS, 0, ioprio_value(io_class, level)) != 0:
        err = ctypes.get_errno()
        raise ThrottleError('cannot set I/O priority %s:%d: %s%s' % (
            io_class, level, os.strerror(err),
            ' (the realtime class needs root)' if io_class == 'realtime' else ''))


def apply(nice=0, io_class='none', io_level=4):
    """Apply what is configured (nice 0 and class 'none' leave things as they are).

    Returns notes for the log: a setting that cannot be applied is said, never fatal.
    """
    notes = []
    if nice:
        try:
            set_nice(nice)
        except ThrottleError as exc:
            notes.append(str(exc))
    if io_class != 'none':
        try:
            set_ionice(io_class, io_level)
        except ThrottleError as exc:
            notes.append(str(exc))
    return notes


def apply_config(daemon_cfg):
    return apply(daemon_cfg.nice, daemon_cfg.ionice_class, daemon_cfg.ionice_level)
