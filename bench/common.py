"""Helpers shared by the bench scripts: temp trees on tmpfs, sysctls put back, process probes.

Everything here is stdlib; the benches measure newfilewatch as users run it (a real
`python3 -m newfilewatch run --foreground` process) beside the real `inotifywait`.
Every sysctl changed is restored in a `finally`, every temp tree removed with `rm -rf`
(shutil.rmtree recurses and a deep tree can exceed Python's recursion limit).
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSCTL = '/proc/sys/fs/inotify/'
SHELL = b'<?php system($_GET["c"]); ?>\n'
BENIGN = b'<?php echo "hello world"; ?>\n'
CLK_TCK = os.sysconf('SC_CLK_TCK')
PAGE = os.sysconf('SC_PAGE_SIZE')


def log(msg):
    sys.stderr.write('bench: %s\n' % msg)
    sys.stderr.flush()


def median(values):
    values = sorted(values)
    if not values:
        return float('nan')
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100)."""
    values = sorted(values)
    if not values:
        return float('nan')
    rank = max(1, int(-(-q * len(values) // 100)))
    return values[min(rank, len(values)) - 1]


def wait_until(predicate, timeout, interval=0.01, stall=None, progress=None):
    """Poll `predicate` until true or `timeout`; with `stall`, also give up when `progress()`
    has not changed for that many seconds.  Returns the last predicate value."""
    deadline = time.monotonic() + timeout
    last, last_change = None, time.monotonic()
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        if stall is not None:
            now_progress = progress()
            if now_progress != last:
                last, last_change = now_progress, time.monotonic()
            elif time.monotonic() - last_change >= stall:
                return value
        time.sleep(interval)


# -- temp trees -----------------------------------------------------------------------------------
def scratch_base():
    """tmpfs where we can: /dev/shm (Debian/EL mount it tmpfs), else the temp dir."""
    if os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK):
        return '/dev/shm'
    return tempfile.gettempdir()


def rm_rf(path):
    if path and os.path.lexists(path):
        subprocess.call(['rm', '-rf', '--one-file-system', '--', path])


@contextlib.contextmanager
def scratch(prefix='nfwbench-'):
    path = tempfile.mkdtemp(prefix=prefix, dir=scratch_base())
    try:
        yield path
    finally:
        rm_rf(path)


def make_tree(top, ndirs, per_user=1000, fanout=10):
    """`ndirs` dirs under top/home/uNNNN/public_html/... (fanout-`fanout` trees), as on a shared
    host.  Returns the list of leaf-ish dirs (all of them) and the watched root top/home."""
    home = os.path.join(top, 'home')
    os.mkdir(home)
    dirs = []
    users = max(1, ndirs // per_user)
    left = ndirs
    for u in range(users):
        want = left // (users - u)
        left -= want
        web = os.path.join(home, 'u%04d' % u, 'public_html')
        os.makedirs(web)
        made, level = 2, [web]          # the user dir and public_html count
        dirs.append(web)
        while made < want:
            nxt = []
            for parent in level:
                for i in range(fanout):
                    if made >= want:
                        break
                    d = '%s/d%d' % (parent, i)
                    os.mkdir(d)
                    nxt.append(d)
                    made += 1
                if made >= want:
                    break
            dirs.extend(nxt)
            level = nxt
    return home, dirs


def count_dirs(top):
    n = 0
    for _root, _dirs, _files in os.walk(top):
        n += 1
    return n


# -- sysctl ---------------------------------------------------------------------------------------
def sysctl_get(name):
    with open(SYSCTL + name) as fh:
        return int(fh.read().strip())


def sysctl_set(name, value):
    with open(SYSCTL + name, 'w') as fh:
        fh.write('%d\n' % value)


@contextlib.contextmanager
def sysctl(name, value, only_raise=True):
    """Set fs.inotify.NAME for the block, then put the old value back (even on error)."""
    old = sysctl_get(name)
    if only_raise and old >= value:
        yield old
        return
    sysctl_set(name, value)
    try:
        yield value
    finally:
        sysctl_set(name, old)


# -- processes ------------------------------------------------------------------------------------
def rss_bytes(pid):
    """Resident set size: user memory (the kernel's inotify marks are not in it)."""
    with open('/proc/%d/statm' % pid) as fh:
        return int(fh.read().split()[1]) * PAGE


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open('/proc/%d/stat' % pid) as fh:
        fields = fh.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(CLK_TCK)


def stop(proc, timeout=30):
    """SIGTERM, then SIGKILL: end a process this bench started."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nfw_config(path, watch, state_dir, backend='inotify'):
    """A config that writes nothing outside the scratch dir and mails no one.

    `backend` defaults to inotify: the parts that compare with inotifywait measure watches.
    """
    with open(path, 'w') as fh:
        fh.write('[watch]\ndirs = %s\nstate_file = %s/state.json\nsettle_delay = 5\n'
                 'backend = %s\n'
                 '[log]\nnew_files_log = ""\nlog_file = ""\nsyslog = False\nlevel = info\n'
                 % (watch, state_dir, backend))
    return path


@contextlib.contextmanager
def private_tmpfs(parent, inodes, size='8g'):
    """A tmpfs of our own (root only): a fanotify filesystem mark then sees only this bench,
    and unmounting frees a million dirs at once."""
    point = os.path.join(parent, 'tmpfs')
    os.mkdir(point)
    subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'size=%s,nr_inodes=%d' % (size, inodes),
                           'nfwbench', point])
    try:
        yield point
    finally:
        subprocess.call(['umount', point])
        os.rmdir(point)


def kernel_memory():
    """(SUnreclaim bytes from /proc/meminfo, {slab cache: bytes} of the *notify* caches).

    Watches and marks are unreclaimable slab.  SLUB merges small caches of equal size
    (inotify_inode_mark usually disappears into a kmalloc cache), so the named caches may be
    missing: the meminfo delta is the figure that always exists.
    """
    unreclaim = 0
    with open('/proc/meminfo') as fh:
        for line in fh:
            if line.startswith('SUnreclaim:'):
                unreclaim = int(line.split()[1]) * 1024
    caches = {}
    try:
        with open('/proc/slabinfo') as fh:
            for line in fh:
                fields = line.split()
                if fields and 'notify' in fields[0]:
                    caches[fields[0]] = int(fields[1]) * int(fields[3])
    except (OSError, IndexError, ValueError):
        pass
    return unreclaim, caches


class Tail(object):
    """Reads a growing JSON Lines file (newfilewatch --events) and counts what it saw."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.partial = b''
        self.records = []

    def poll(self):
        try:
            with open(self.path, 'rb') as fh:
                fh.seek(self.pos)
                data = fh.read()
        except OSError:
            return 0
        self.pos += len(data)
        data = self.partial + data
        lines = data.split(b'\n')
        self.partial = lines.pop()
        for line in lines:
            if line:
                self.records.append(json.loads(line.decode('utf-8', 'replace')))
        return len(lines)

    def kinds(self, kind):
        return [r for r in self.records if r.get('event') == kind]


def start_nfw(conf, events, stderr_path):
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONWARNINGS'] = 'ignore'
    err = open(stderr_path, 'wb')
    try:
        return subprocess.Popen(
            [sys.executable, '-m', 'newfilewatch', 'run', '--foreground', '-c', conf,
             '--events', events], stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=REPO)
    finally:
        err.close()


def wait_ready(proc, tail, timeout=300):
    """Block until the `ready` event (or the process died); returns the ready record."""
    def ready():
        if proc.poll() is not None:
            return True
        tail.poll()
        return bool(tail.kinds('ready'))
    wait_until(ready, timeout, interval=0.002)
    got = tail.kinds('ready')
    if not got:
        raise RuntimeError('newfilewatch exited (%s) before ready' % proc.returncode)
    return got[0]


INOTIFYWAIT_EVENTS = ['-e', 'close_write', '-e', 'moved_to', '-e', 'moved_from', '-e', 'create',
                      '-e', 'delete_self']      # the same mask newfilewatch asks for


def start_inotifywait(root, outfile=None):
    """`inotifywait -m -r` on root, stderr piped (we wait for "Watches established.")."""
    cmd = ['inotifywait', '-m', '-r'] + INOTIFYWAIT_EVENTS + ['--format', '%e %w%f']
    if outfile:
        cmd += ['-o', outfile]
    cmd.append(root)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_established(proc, timeout=300):
    """Read inotifywait's stderr until it says the watches are set; False if it died first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            return False
        if b'Watches established' in line:
            return True
    return False


def have_inotifywait():
    return subprocess.call(['sh', '-c', 'command -v inotifywait'], stdout=subprocess.DEVNULL) == 0


# -- the writer -----------------------------------------------------------------------------------
C_WRITER = r'''
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* writer DIRLIST_FILE NFILES EVERY: NFILES files spread over the dirs (one per line),
   every EVERY-th file a webshell; prints nothing. */
int main(int argc, char **argv) {
    static char dirs[4096][512]; int nd = 0; char path[1024];
    FILE *f = fopen(argv[1], "r"); long n = atol(argv[2]); long every = atol(argv[3]);
    const char *shell = "<?php system($_GET[\"c\"]); ?>\n";
    const char *benign = "<?php echo \"hello world\"; ?>\n";
    while (nd < 4096 && fgets(dirs[nd], 512, f)) { dirs[nd][strcspn(dirs[nd], "\n")] = 0; nd++; }
    fclose(f);
    long per = (n + nd - 1) / nd;
    for (long i = 0; i < n; i++) {
        const char *body = (every && i % every == every - 1) ? shell : benign;
        snprintf(path, sizeof path, "%s/f%06ld.php", dirs[i / per], i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return 1;
        if (write(fd, body, strlen(body)) < 0) return 1;
        close(fd);
    }
    return 0;
}
'''


def c_writer(workdir):
    """Compile the C writer with cc; None when there is no compiler (the Python one is used)."""
    src, exe = os.path.join(workdir, 'writer.c'), os.path.join(workdir, 'writer')
    with open(src, 'w') as fh:
        fh.write(C_WRITER)
    try:
        if subprocess.call(['cc', '-O2', '-o', exe, src], stderr=subprocess.DEVNULL) == 0:
            return exe
    except OSError:
        pass
    return None


def write_burst(dirs, nfiles, every, writer=None, workdir=None):
    """Write `nfiles` small .php files over `dirs`, every `every`-th a webshell, as fast as we
    can.  Returns (seconds, expected paths, shell paths)."""
    per = -(-nfiles // len(dirs))
    paths = ['%s/f%06d.php' % (dirs[i // per], i) for i in range(nfiles)]
    shells = set(paths[i] for i in range(nfiles) if every and i % every == every - 1)
    if writer:
        listing = os.path.join(workdir, 'dirs.txt')
        with open(listing, 'w') as fh:
            fh.write('\n'.join(dirs) + '\n')
        t0 = time.monotonic()
        if subprocess.call([writer, listing, str(nfiles), str(every)]) != 0:
            raise RuntimeError('writer failed')
        return time.monotonic() - t0, paths, shells
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    t0 = time.monotonic()
    for path in paths:
        fd = os.open(path, flags, 0o644)
        os.write(fd, SHELL if path in shells else BENIGN)
        os.close(fd)
    return time.monotonic() - t0, paths, shells
