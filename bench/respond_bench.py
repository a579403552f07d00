"""What acting on alerts costs: hook runs per second, webhook POSTs per second through the desk,
and the time to quarantine one file on the same and on another filesystem.

    python3 bench/respond_bench.py          (as root for the quarantine part; ~20 s)

Prints figures; asserts nothing.  The webhook server is http.server on 127.0.0.1; the
quarantine runs on files in /tmp and, for the other-filesystem case, into a tmpfs it mounts.
"""
import hashlib
import http.server
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from newfilewatch import alerts, hooks, model, quarantine, webhook  # noqa: E402


def bench_hooks(n=200, running=4):
    done = []
    runner = hooks.HookRunner(['/bin/true'], timeout=10, max_running=running, max_queued=n,
                              on_done=lambda *a: done.append(1)).start()
    t0 = time.monotonic()
    for i in range(n):
        runner.submit(b'{"event": "alert"}', '/www/%d.php' % i)
    while len(done) < n:
        time.sleep(0.005)
    seconds = time.monotonic() - t0
    runner.close()
    print('hooks: %d runs of /bin/true, %d at once: %.0f runs/s (%.1f ms each, wall)'
          % (n, running, n / seconds, 1000 * seconds / n))


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers['Content-Length']))
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


def bench_webhook(n=300):
    server = _Server(('127.0.0.1', 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spool = tempfile.mkdtemp(prefix='nfw-bench-')
    route = webhook.WebhookRoute('http://127.0.0.1:%d/h' % server.server_address[1], spool, 'bench',
                                 batch_window=0, max_per_hour=100000)
    desk = alerts.Desk(route, poll_interval=0.01).start()
    t0 = time.monotonic()
    for i in range(n):
        desk.add(model.finding('/www/%d.php' % i, sha256='%064x' % i, score=20, suspicious=True,
                               hits=[model.Hit('r', 1, 'x', 'critical', 20)]))
    queued = time.monotonic() - t0
    while desk.stats()['queued']:
        time.sleep(0.005)
    seconds = time.monotonic() - t0
    desk.close()
    server.shutdown()
    subprocess.call(['rm', '-rf', spool])
    print('webhook: %d alerts spooled in %.0f ms (%.2f ms each, fsync included), all POSTed and '
          'acknowledged in %.2f s (%.0f/s)' % (n, 1000 * queued, 1000 * queued / n, seconds,
                                                n / seconds))


def bench_quarantine(size=1 << 20, n=20):
    if os.geteuid() != 0:
        print('quarantine: skipped (needs root)')
        return
    base = tempfile.mkdtemp(prefix='nfw-bench-q-', dir='/var/tmp')
    www = os.path.join(base, 'www')
    os.mkdir(www)
    small = os.path.join(base, 'tmpfs')
    os.mkdir(small)
    subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'size=64m', 'nfwbench', small])
    try:
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        for label, qdir in (('same filesystem (rename)', os.path.join(base, 'q')),
                            ('other filesystem (copy, fsync, verify, unlink)',
                             os.path.join(small, 'q'))):
            times = []
            for i in range(n):
                path = os.path.join(www, 'f%d.php' % i)
                with open(path, 'wb') as fh:
                    fh.write(data)
                t0 = time.monotonic()
                quarantine.quarantine(path, [www], qdir, digest)
                times.append(time.monotonic() - t0)
            times.sort()
            print('quarantine of a %d KiB file, %s: median %.1f ms, max %.1f ms (%d files)'
                  % (size // 1024, label, 1000 * times[n // 2], 1000 * times[-1], n))
    finally:
        subprocess.call(['umount', small])
        subprocess.call(['rm', '-rf', base])


if __name__ == '__main__':
    bench_hooks()
    bench_webhook()
    bench_quarantine()
