"""One candidate path's way through the program: queue -> dedupe -> scanner -> sinks.

The queue sits between the kernel and the scanner so that reading inotify never waits for a
scan: the main loop drains the fd first (keeping the kernel queue from overflowing during a
burst), then spends a bounded slice of time scanning.  The queue is keyed by path, so a file
written and closed a thousand times while waiting is scanned once.
An exception while handling one path is caught, counted and logged (as fail2ban does); it never
stops the loop.
"""
import collections
import logging
import os
import time

RECENT = 16384          # identities remembered to drop repeat candidates (sweep + event overlap)


class Pipeline(object):
    """`sinks` is an object with new_file(finding, candidate) and alert(finding, candidate)."""

    def __init__(self, scanner, rules, sinks, clock=time.time, logger=None):
        self.scanner = scanner
        self.rules = rules
        self.sinks = sinks
        self.clock = clock
        self.log = logger or logging.getLogger('newfilewatch')
        self.queue = collections.OrderedDict()
        self.floors = {}          # path -> earliest ctime that may matter (see offer)
        self.unlogged = None      # floor of the oldest file the new-files log did not take
        self.recent = collections.OrderedDict()
        self.counts = collections.Counter()
        self._floor = None

    def offer(self, candidate, floor=None):
        """Queue a path (the watcher's `emit`).

        `floor`: a time no later than the file's ctime (a restart catch-up passes the time it
        scans from; an event's own time is the default), so that oldest() can tell how far
        back the next start must look for the files still queued.
        """
        old = self.queue.get(candidate.path)
        if old is None or (old.synthetic and not candidate.synthetic):
            self.queue[candidate.path] = candidate
        floor = self.clock() if floor is None else floor
        known = self.floors.get(candidate.path)
        if known is None or floor < known:
            self.floors[candidate.path] = floor

    def oldest(self):
        """The catch-up time that still covers every queued file and every file the new-files
        log could not take; None when there is none (the caller's clock is then the limit)."""
        marks = [self.unlogged] if self.unlogged is not None else []
        if self.floors:
            marks.append(min(self.floors.values()))
        return min(marks) if marks else None

    def __len__(self):
        return len(self.queue)

    def drain(self, budget=0.05):
        """Handle queued candidates for about `budget` seconds; returns how many were handled."""
        deadline = self.clock() + budget
        done = 0
        while self.queue:
            path, candidate = self.queue.popitem(last=False)
            self._floor = self.floors.pop(path, None)
            self.handle(candidate)
            done += 1
            if done % 16 == 0 and self.clock() >= deadline:
                break
        return done

    def handle(self, candidate):
        try:
            self._handle(candidate)
        except Exception:            # one bad file must not stop the watcher
            self.counts['errors'] += 1
            self.log.exception('error while handling %r', candidate.path)

    def _handle(self, candidate):
        path = candidate.path
        try:
            st = os.lstat(path)
        except OSError:
            self.counts['gone'] += 1
            return                   # deleted before we got to it: nothing new remains
        # a 64-bit hash, not the tuple: the memory of this cache must not grow with path lengths
        identity = hash((path, st.st_ino, st.st_ctime_ns, st.st_size))
        if identity in self.recent:
            self.counts['repeats'] += 1
            return
        self.recent[identity] = True
        if len(self.recent) > RECENT:
            self.recent.popitem(last=False)
        finding = self.scanner.scan(path, st, self.clock())
        if finding.kind == 'gone':
            self.counts['gone'] += 1
            return
        if candidate.writer is not None:     # fanotify named the process: it goes along
            finding = finding._replace(writer=candidate.writer)
        if finding.suspicious and self.rules.is_allowed(path):
            finding = finding._replace(suspicious=False, note='path allowlisted')
        self.counts['files'] += 1
        if finding.known_good:
            self.counts['known_good'] += 1
        if self.sinks.new_file(finding, candidate) is False:      # not in the new-files log
            floor = self._floor if self._floor is not None else self.clock()
            self.unlogged = floor if self.unlogged is None else min(self.unlogged, floor)
        if finding.suspicious:
            self.counts['alerts'] += 1
            self.sinks.alert(finding, candidate)
