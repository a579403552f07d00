"""Text of the new-files log line, the console alert and the JSON event: pure functions.

Every path goes through escape.escape_name, so a hostile name is one line everywhere and its
bytes survive (as \\xNN) instead of being dropped or breaking the JSON encoder.
"""
import datetime
import json
import os
import shlex
import time

from newfilewatch import writer as writermod
from newfilewatch.escape import escape_name, one_line


def new_file_line(finding, when=None):
    """The classic FSniper-handler line: `YYYY-MM-DD HH:MM >> PATH | OWNER`."""
    stamp = time.strftime('%Y-%m-%d %H:%M', time.localtime(when or finding.time or time.time()))
    line = '%s >> %s | %s' % (stamp, escape_name(finding.path), escape_name(finding.owner))
    if finding.kind != 'file':
        line += ' | %s' % finding.kind
    return line


def hit_dicts(finding, width=160):
    """Hits as JSON-ready dicts; a private finding (foreign hard link, symlink) keeps no text."""
    return [{'rule': h.rule, 'line': h.line, 'severity': h.severity, 'weight': h.weight,
             'text': '' if finding.private else one_line(h.text, width)} for h in finding.hits]


def iso_time(when):
    return datetime.datetime.fromtimestamp(when).astimezone().isoformat(timespec='milliseconds')


def quarantine_command(finding):
    """The exact `newfilewatch quarantine` command for a finding's file, safe to paste in a shell.

    Every word goes through shlex.quote.  A name that escape_name has to change (newline, ESC,
    bytes that are not UTF-8, a backslash) is given in its escaped, printable form with
    `--escaped`, which the command undoes with escape.unescape_name: the command stays one line
    and never holds a raw control character, whatever the attacker named the file.
    `--sha256` makes the command refuse a file that changed since the alert; it is left out when
    only the head and tail were hashed.  None for what quarantine refuses anyway (a symlink, a
    FIFO, a foreign hard link: delete those by hand).
    """
    if finding.kind != 'file' or finding.private:
        return None
    raw = finding.path if isinstance(finding.path, str) else os.fsdecode(finding.path)
    shown = escape_name(raw)
    words = ['newfilewatch', 'quarantine']
    if finding.sha256 and not finding.partial:
        words += ['--sha256', finding.sha256]
    if shown != raw:
        words.append('--escaped')
    words += ['--', shown]
    return ' '.join(shlex.quote(w) for w in words)


def event_record(kind, when, finding=None, **extra):
    """The event as a dict: what `event` writes, a hook reads on stdin and a webhook posts."""
    record = {'time': iso_time(when), 'event': kind}
    if finding is not None:
        record.update(path=escape_name(finding.path), owner=escape_name(finding.owner),
                      size=finding.size, sha256=finding.sha256, kind=finding.kind,
                      score=finding.score, hits=hit_dicts(finding), synthetic=extra.pop(
                          'synthetic', False))
        if finding.note:
            record['note'] = one_line(finding.note, 1000)   # may quote a symlink's target
        if kind == 'alert':
            record['quarantine'] = quarantine_command(finding)
    for key, value in extra.items():
        record[key] = escape_name(value) if key == 'path' and isinstance(value, str) else value
    return record


def event(kind, when, finding=None, **extra):
    """One JSON Lines record for the event stream (`--events`)."""
    return json.dumps(event_record(kind, when, finding, **extra), ensure_ascii=False,
                      sort_keys=False)


def console_alert(finding, width=160):
    """What `run --foreground` prints to stderr for a suspicious file when no mail is configured."""
    rules = ', '.join(sorted(set(h.rule for h in finding.hits)))
    lines = ['ALERT %s: %s (score %d, owner %s, %d bytes, sha256 %s)' % (
        escape_name(finding.path), rules, finding.score, escape_name(finding.owner),
        finding.size, finding.sha256 or '-')]
    if getattr(finding, 'writer', None) is not None:
        lines.append('  writer: %s' % writer_text(finding))
    for h in finding.hits:
        text = '' if finding.private else one_line(h.text, width)
        lines.append('  %s:%d: [%s] %s' % (escape_name(finding.path), h.line, h.rule, text))
    command = quarantine_command(finding)
    if command:
        lines.append('  quarantine: %s' % command)
    return '\n'.join(lines)


def writer_json(finding):
    """The `writer` of a watcher's new_file/alert event (not of `scan`, which has no writer)."""
    return writermod.as_json(getattr(finding, 'writer', None))


def writer_text(finding):
    """Who wrote the file, escaped, for the daemon log and mail (see writer.describe)."""
    return writermod.describe(getattr(finding, 'writer', None))


def scan_line(finding):
    """`newfilewatch scan` output: the path first, then the rules that fired (clamscan-like)."""
    rules = ', '.join(sorted(set(h.rule for h in finding.hits)))
    return '%s: %s' % (escape_name(finding.path), rules)


def scan_result_line(finding):
    """A `scan` line, clamscan-like with what an allowlist needs:
    `PATH: rule1, rule2 (score N) sha256=HEX`; `PATH: OK` for a clean file."""
    if not finding.suspicious:
        return '%s: OK%s' % (escape_name(finding.path),
                             ' (%s)' % one_line(finding.note, 200) if finding.known_good else '')
    return '%s (score %d) sha256=%s' % (scan_line(finding), finding.score, finding.sha256 or '-')


def scan_hit_lines(finding, width=160):
    """`scan -v`: one `PATH:LINE:excerpt` per hit, then `  ^ rule (severity)` as in mail."""
    lines = []
    for h in finding.hits:
        text = '' if finding.private else one_line(h.text, width)
        lines.append('%s:%d:%s' % (escape_name(finding.path), h.line, text))
        lines.append('  ^ %s (%s)' % (h.rule, h.severity))
    return lines
