"""A process that writes files as a given user, with the comm and cmdline a test chooses.

comm is the kernel's name of the executable (the base name, 15 bytes at most), so a symlink
to bash under the wanted name sets it; `exec -a` sets argv[0], which PHP-FPM workers use for
their title (`php-fpm: pool NAME`).  The process writes, then waits on its stdin, so /proc
still shows it while the watcher reads the event.
"""
import os
import subprocess
import tempfile


class Writer(object):
    def __init__(self, user, script, argv0='writer', comm='writer'):
        self.dir = tempfile.mkdtemp(prefix='nfw-writer-')
        os.chmod(self.dir, 0o755)
        exe = os.path.join(self.dir.encode(), comm if isinstance(comm, bytes) else comm.encode())
        os.symlink(b'/bin/bash', exe)

        def become():
            if user is not None:
                os.setgroups([])
                os.setgid(user.gid)
                os.setuid(user.uid)
        self.proc = subprocess.Popen(
            [b'/bin/bash', b'-c', b'exec -a "$0" "$1" -c "$2"', argv0.encode(), exe,
             script.encode() + b'\nread line\n'],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, preexec_fn=become)
        self.pid = self.proc.pid

    def done(self):
        try:
            self.proc.communicate(b'\n', timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)
