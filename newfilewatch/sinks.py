"""Where findings go: the new-files log, the JSON event stream, the console.  Thin I/O only.

Each sink writes whole lines with one write() on a line-buffered append-mode file, so a line is
never split between two writers, and can `reopen()` after logrotate moved the file (SIGUSR1).
A sink whose file cannot be opened says so once and keeps the program running: the same facts
still reach syslog and the event stream.
"""
import errno
import json
import logging
import os
import sys
import threading

from newfilewatch import formatting, safefile


class LineFile(object):
    """An append-only text file of lines, reopenable; '-' means stdout."""

    def __init__(self, path, logger=None, mode=0o640):
        self.path = path
        self.mode = mode
        self.log = logger or logging.getLogger('newfilewatch')
        self.fh = None
        self.failed = False
        self.error = None
        self.open()

    def open(self):
        if self.path == '-':
            self.fh = sys.stdout
            return
        try:
            parent = os.path.dirname(self.path)
            if parent and not os.path.isdir(parent):
                safefile.make_dirs(parent, 0o750)
            fd = safefile.open_append(self.path, self.mode)   # no link, FIFO or foreign hard link
            self.fh = os.fdopen(fd, 'a', buffering=1, encoding='utf-8', errors='backslashreplace')
            self.failed = False
        except OSError as exc:
            self.fh = None
            self.error = exc.strerror or str(exc)
            if not self.failed:
                self.log.error('cannot write %s: %s', self.path, exc.strerror or exc)
            self.failed = True

    def write(self, line):
        if self.fh is None:
            return False
        try:
            self.fh.write(line + '\n')
            if self.fh is sys.stdout:
                self.fh.flush()
            return True
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                self.log.error('cannot write %s: %s', self.path, exc.strerror or exc)
            return False

    def reopen(self):
        self.close()
        self.open()

    def close(self):
        if self.fh is not None and self.fh is not sys.stdout:
            try:
                self.fh.close()
            except OSError:
                pass
        self.fh = None

    def fileno(self):
        return self.fh.fileno() if self.fh is not None else None


class Outputs(object):
    """The pipeline's sinks: new-files log, event stream, alert log (syslog), mail desk, console.

    `desk` is an alerts.AlertDesk or None (no mail configured); with `console` the foreground
    user sees new files on stdout and, when there is no mail, alerts on stderr.  `desks` are
    the other delivery routes (webhook, owners' mail) and `hooks` hooks.HookRunners (the
    admin's command, auto-quarantine): each gets the alert too.  Event writes and reopen()
    take a lock because hook workers write `hook` events from their threads.
    """

    def __init__(self, new_files=None, events=None, desk=None, console=False, logger=None,
                 desks=(), hooks=()):
        self.fmt = formatting
        self.new_files = new_files
        self.events = events
        self.desk = desk
        self.desks = tuple(desks)
        self.hooks = tuple(hooks or ())
        self.console = console
        self.alert_log = logger or logging.getLogger('newfilewatch.alert')
        self._lock = threading.Lock()

    def new_file(self, finding, candidate):
        """False when the new-files log did not take the line (the catch-up time must not pass it)."""
        line = self.fmt.new_file_line(finding)
        logged = True
        if self.new_files is not None:
            logged = self.new_files.write(line)
        if self.console and not self._events_on_stdout():
            sys.stdout.write(line + '\n')
            sys.stdout.flush()
        self.emit('new_file', finding.time, finding, synthetic=candidate.synthetic,
                  writer=self.fmt.writer_json(finding))
        if finding.writer is not None and self.alert_log.isEnabledFor(logging.DEBUG):
            # DEBUG: a burst must not flood syslog; the new-files log has the line already
            self.alert_log.debug('new file %s written by %s', self.fmt.escape_name(finding.path),
                                 self.fmt.writer_text(finding))
        return logged

    def alert(self, finding, candidate):
        record = self.fmt.event_record('alert', finding.time, finding, synthetic=candidate.synthetic,
                                       writer=self.fmt.writer_json(finding))
        line = json.dumps(record, ensure_ascii=False)
        self._write_event(line)
        self.alert_log.warning('suspicious %s (writer: %s)', self.fmt.scan_line(finding),
                               self.fmt.writer_text(finding))
        if self.desk is not None:
            self.desk.add(finding)
        elif self.console:
            sys.stderr.write(self.fmt.console_alert(finding) + '\n')
            sys.stderr.flush()
        for desk in self.desks:
            desk.add(finding)
        for runner in self.hooks:           # the same object as the event, byte for byte
            if runner.wants(finding):
                runner.submit(line.encode('utf-8', 'backslashreplace'), finding.path)

    def emit(self, kind, when, finding=None, **extra):
        if self.events is not None:
            self._write_event(self.fmt.event(kind, when, finding, **extra))

    def _write_event(self, line):
        if self.events is not None:
            with self._lock:
                self.events.write(line)

    def reopen(self):
        with self._lock:
            for sink in (self.new_files, self.events):
                if sink is not None:
                    sink.reopen()

    def close(self):
        for sink in (self.new_files, self.events):
            if sink is not None:
                sink.close()

    def _events_on_stdout(self):
        return self.events is not None and self.events.path == '-'
