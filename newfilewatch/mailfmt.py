"""Turn suspicious Findings into one alert mail: the classic FSniper text, done better.

Pure: no I/O, no clock and no randomness unless the caller leaves `now` / `msgid` out.
The mail is built with email.message.EmailMessage so encoding (RFC 2047 subject, quoted-printable
body, header folding) is the library's job.  What is ours is the one rule that keeps attacker-chosen
names harmless: a file name NEVER goes into a header, and in the body every name and excerpt passes
through escape.escape_name / escape.one_line, so one finding line is always one body line.
"""
import email.message
import email.utils
import hashlib
import re
import time

from newfilewatch import escape, formatting
from newfilewatch import writer

# Anything that could end or fold a header line, or confuse a terminal showing it.
_HEADER_UNSAFE = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]')
_INDENT = '    '


def clean_header(text):
    """Strip control characters from a header value built from config/host (never from names).

    The templates are the admin's, but `{host}` comes from the system and a broken template must
    not be able to add a header; stripping (not escaping) keeps subjects readable.
    """
    return _HEADER_UNSAFE.sub('', str(text)).strip()


def subject_for(mail_cfg, host, ip):
    """The admin's subject template with {ip} and {host}; falls back to the classic one."""
    try:
        subject = mail_cfg.subject.format(ip=ip, host=host)
    except (KeyError, IndexError, ValueError, AttributeError):
        subject = '%s | Found something suspicious' % ip
    return clean_header(subject) or 'Found something suspicious'


def _sender(mail_cfg, host):
    # str.replace, not format: an address may legitimately hold braces nobody meant as a template.
    return clean_header((mail_cfg.from_ or 'newfilewatch@{host}').replace('{host}', host))


def _size(n):
    """Exact bytes always (admins compare them), with a readable unit for big files."""
    if n < 1024:
        return '%d bytes' % n
    value, unit = float(n), 'B'
    for unit in ('KiB', 'MiB', 'GiB', 'TiB'):
        value /= 1024.0
        if value < 1024:
            break
    return '%d bytes (%.1f %s)' % (n, value, unit)


def _finding_lines(f, width, commands=True):
    """Body lines for one Finding: grep-style `PATH:LINE:excerpt` hit lines, then the metadata."""
    path = escape.escape_name(f.path)
    out = []
    hits = list(f.hits)
    if not hits:
        out.append(path)
    for hit in hits:
        if f.private:
            out.append('%s:%d' % (path, hit.line))
        else:
            out.append('%s:%d:%s' % (path, hit.line, escape.one_line(hit.text or '', width)))
        out.append('%s^ %s (%s)' % (_INDENT, escape.one_line(str(hit.rule), width),
                                    escape.one_line(str(hit.severity), 40)))
    meta = 'owner: %s   size: %s   score: %s' % (
        escape.one_line(str(f.owner), 64), _size(int(f.size or 0)), f.score)
    if f.kind != 'file':
        meta += '   kind: %s' % escape.one_line(str(f.kind), 20)
    out.append(_INDENT + meta)
    if f.sha256:
        out.append(_INDENT + 'sha256: %s%s' % (escape.one_line(str(f.sha256), 80),
                                               ' (of head and tail only)' if f.partial else ''))
    elif f.partial:
        out.append(_INDENT + 'only head and tail were read')
    if f.note:
        out.append(_INDENT + 'note: %s' % escape.one_line(f.note, width))
    out.append(_INDENT + 'writer: %s' % writer.describe(f.writer)[:width])   # escaped there
    if f.private:
        out.append(_INDENT + 'content not quoted: the uploader does not own this file')
    command = formatting.quarantine_command(f) if commands else None
    if command:
        out.append(_INDENT + 'quarantine: %s' % command)
    return out


def body_text(findings, host, ip, width=160, more=0, log_path='', intro='', commands=True):
    """The plain-text body; split out so the log and tests can use the same words.

    `intro` is a paragraph after the header (owners' mail); `commands` False leaves out the
    root-only quarantine command (owners cannot run it).
    """
    findings = list(findings)
    lines = ['Server: %s' % escape.one_line(host, 255),
             'IP: %s' % escape.one_line(ip, 64),
             '%d suspicious file%s' % (len(findings) + more, '' if len(findings) + more == 1 else 's'),
             '']
    if intro:
        lines.extend([escape.one_line(intro, 2000), ''])
    for f in findings:
        lines.extend(_finding_lines(f, width, commands))
        lines.append('')
    if more > 0:
        where = escape.one_line(log_path, 4096) if log_path else 'the newfilewatch log'
        lines.append('and %d more, see %s' % (more, where))
        lines.append('')
    return '\n'.join(lines)


def stable_msgid(keys, host):
    """A Message-ID derived from the alert ids a mail carries.

    If the daemon dies after the server accepted a mail but before it noted that, the restart
    resends the same alerts under the same Message-ID, which lets mail clients drop the copy.
    """
    digest = hashlib.sha256('\n'.join(sorted(keys)).encode('utf-8', 'surrogateescape')).hexdigest()
    domain = re.sub(r'[^A-Za-z0-9.-]', '', host) or 'localhost'
    return '<%s.newfilewatch@%s>' % (digest[:40], domain)


def _message(subject, body, mail_cfg, host, now, msgid):
    msg = email.message.EmailMessage()
    msg['Subject'] = subject
    msg['From'] = _sender(mail_cfg, host)
    msg['To'] = ', '.join(clean_header(a) for a in mail_cfg.to if clean_header(a))
    msg['Date'] = email.utils.formatdate(time.time() if now is None else now, localtime=True)
    msg['Message-ID'] = msgid or email.utils.make_msgid(
        'newfilewatch', domain=re.sub(r'[^A-Za-z0-9.-]', '', host) or 'localhost')
    msg['Auto-Submitted'] = 'auto-generated'       # RFC 3834: no vacation replies to a daemon
    msg['X-Mailer'] = 'newfilewatch'
    ascii_short = all(len(l) <= 78 for l in body.splitlines()) and not re.search('[^\x00-\x7f]', body)
    # Quoted-printable keeps any UTF-8 name and any line length safe over 7-bit transports.
    msg.set_content(body, charset='utf-8', cte='7bit' if ascii_short else 'quoted-printable')
    return msg


def render(findings, mail_cfg, host, ip, more=0, log_path='', now=None, msgid=None, intro='',
           commands=True):
    """One EmailMessage for `findings`; `more` alerts beyond them are summarised as "and N more"."""
    subject = subject_for(mail_cfg, host, ip)
    body = body_text(findings, host, ip, getattr(mail_cfg, 'line_width', 160), more, log_path,
                     intro, commands)
    return _message(subject, body, mail_cfg, host, now, msgid)


def render_test(mail_cfg, host, ip, now=None):
    """The `newfilewatch test-alert` mail: the real subject, so filters that sort alerts catch it."""
    subject = subject_for(mail_cfg, host, ip) + ' (test)'
    body = '\n'.join([
        'Server: %s' % escape.one_line(host, 255),
        'IP: %s' % escape.one_line(ip, 64),
        '',
        'This is a test alert from newfilewatch (`newfilewatch test-alert`).',
        'If you can read it, alert mail from this server reaches you.',
        ''])
    return _message(subject, body, mail_cfg, host, now, None)
