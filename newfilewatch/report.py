"""`newfilewatch report [--since 24h] [--json]`: what the event log says happened.

Reads the JSON Lines event log (`[log] events_file`) that the daemon, hooks and quarantine
write, and counts: files seen, alerts by rule, owner and directory, files quarantined and
restored, hooks that failed.  The summary is a plain dict built by a pure function over event
dicts (`summarise`), so it is tested with values; the file reading around it is a few lines.
Paths in the log are already escaped (one printable line each) and stay so here.
"""
import collections
import datetime
import json
import re

_AGE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$')
_UNITS = {'': 3600, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}
TOP = 20


def parse_age(text):
    """'24h' -> 86400.0 seconds; 'all' -> None; a bare number is hours."""
    if str(text).strip().lower() == 'all':
        return None
    m = _AGE.match(str(text))
    if not m:
        raise ValueError('%r: write a number with s, m, h, d or w (e.g. 24h, 7d) or "all"' % text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_time(text):
    """Epoch seconds of an event's ISO time ('2026-12-04T02:41:00.123+00:00'); None if garbage.

    Python 3.6's strptime %z does not take the colon in '+00:00', so it is removed first.
    """
    if not isinstance(text, str):
        return None
    text = re.sub(r'([+-]\d\d):(\d\d)$', r'\1\2', text.strip())
    for fmt in ('%Y-%m-%dT%H:%M:%S.%f%z', '%Y-%m-%dT%H:%M:%S%z'):
        try:
            return datetime.datetime.strptime(text, fmt).timestamp()
        except ValueError:
            continue
    return None


def _directory(path):
    head, _, _ = (path or '').rpartition('/')
    return head or '/'


def summarise(events, since=None):
    """The report as a dict, from event dicts (oldest first); `since` epoch seconds or None."""
    files, paths = 0, set()
    alerts = 0
    by_rule, by_owner, by_dir = collections.Counter(), collections.Counter(), collections.Counter()
    quarantined, restored, hooks_failed = [], [], []
    hooks_ok = errors = 0
    first = last = None
    for event in events:
        when = parse_time(event.get('time'))
        if since is not None and (when is None or when < since):
            continue
        if when is not None:
            first = when if first is None else min(first, when)
            last = when if last is None else max(last, when)
        kind = event.get('event')
        if kind == 'new_file':
            files += 1
            paths.add(event.get('path'))
        elif kind == 'alert':
            alerts += 1
            for rule in sorted(set(h.get('rule') for h in event.get('hits') or () if h.get('rule'))):
                by_rule[rule] += 1
            by_owner[event.get('owner') or '?'] += 1
            by_dir[_directory(event.get('path'))] += 1
        elif kind == 'quarantined':
            quarantined.append({k: event.get(k) for k in ('time', 'id', 'path', 'owner', 'sha256')})
        elif kind == 'restored':
            restored.append({k: event.get(k) for k in ('time', 'id', 'path', 'owner')})
        elif kind == 'hook':
            if event.get('status') == 'ok':
                hooks_ok += 1
            else:
                hooks_failed.append({k: event.get(k) for k in (
                    'time', 'path', 'hook', 'status', 'result', 'output')})
        elif kind == 'error':
            errors += 1
    return {
        'since': datetime.datetime.fromtimestamp(since).astimezone().isoformat() if since else None,
        'first_event': datetime.datetime.fromtimestamp(first).astimezone().isoformat() if first else None,
        'last_event': datetime.datetime.fromtimestamp(last).astimezone().isoformat() if last else None,
        'files_seen': files, 'distinct_paths': len(paths), 'alerts': alerts,
        'alerts_by_rule': dict(by_rule.most_common()), 'alerts_by_owner': dict(by_owner.most_common()),
        'alerts_by_directory': dict(by_dir.most_common()),
        'quarantined': quarantined, 'restored': restored,
        'hooks_ok': hooks_ok, 'hooks_failed': hooks_failed, 'errors': errors}


def read_events(path):
    """Event dicts from a JSON Lines file; lines that are not JSON objects are skipped."""
    with open(path, 'rb') as fh:
        for line in fh:
            try:
                event = json.loads(line.decode('utf-8', 'replace'))
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


def summarise_file(path, since=None):
    return summarise(read_events(path), since)


def as_json(summary):
    return json.dumps(summary, ensure_ascii=False, sort_keys=True, indent=2) + '\n'


def _table(title, counts, top=TOP):
    lines = ['%s:' % title]
    items = list(counts.items())
    for key, n in items[:top]:
        lines.append('  %6d  %s' % (n, key))
    if len(items) > top:
        lines.append('  (%d more)' % (len(items) - top))
    if not items:
        lines.append('  none')
    return lines


def as_text(summary):
    lines = ['newfilewatch report, events since %s' % (summary['since'] or 'the start of the log'),
             '', 'files seen:   %d (%d distinct paths)' % (summary['files_seen'],
                                                           summary['distinct_paths']),
             'alerts:       %d' % summary['alerts'],
             'quarantined:  %d   restored: %d' % (len(summary['quarantined']),
                                                  len(summary['restored'])),
             'hooks:        %d ok, %d failed' % (summary['hooks_ok'], len(summary['hooks_failed'])),
             'errors:       %d' % summary['errors'], '']
    lines += _table('alerts by rule', summary['alerts_by_rule']) + ['']
    lines += _table('alerts by owner', summary['alerts_by_owner']) + ['']
    lines += _table('alerts by directory', summary['alerts_by_directory']) + ['']
    if summary['quarantined']:
        lines.append('quarantined files:')
        for q in summary['quarantined']:
            lines.append('  %s  %s  %s  (%s)' % ((q['time'] or '')[:19], q['id'], q['path'], q['owner']))
        lines.append('')
    if summary['hooks_failed']:
        lines.append('hooks that failed:')
        for h in summary['hooks_failed'][-TOP:]:
            lines.append('  %s  %s: %s%s' % ((h['time'] or '')[:19], h['path'], h['result'],
                                             ' | ' + ' | '.join(h['output']) if h.get('output') else ''))
        lines.append('')
    return '\n'.join(lines)
