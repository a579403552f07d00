"""mailfmt is pure: plain Findings in, an EmailMessage out; checked by parsing the bytes back."""
import email
import email.policy

from newfilewatch import escape, mailfmt, model
from tests.support.smtp import mail_cfg

HOSTILE = '/var/www/html/up/a\nBcc: victim@example.com\r\nX: y\x1b[2J$(rm -rf ~)\udcff\udcfe.php'
SHA = 'ab' * 32


def _finding(path='/var/www/html/shell.php', **kw):
    hits = kw.pop('hits', [model.Hit('php-eval-request', 3, '<?php @eval($_POST["x"]);', 'high', 20),
                           model.Hit('base64-payload', 7, 'base64_decode("ZXZhbA==")', 'medium', 5)])
    defaults = dict(owner='alice', uid=1000, size=2048, sha256=SHA, score=25, suspicious=True,
                    hits=hits, note='uploaded via PHP')
    defaults.update(kw)
    return model.finding(path, **defaults)


def _parse(msg):
    """What a receiving MTA sees: the serialized bytes, parsed again."""
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)


CFG = mail_cfg(to=('admin@example.com', 'ops@example.com'))


def test_classic_subject_and_body_start():
    msg = _parse(mailfmt.render([_finding()], CFG, 'web1.example.com', '192.0.2.10', now=0))
    assert msg['Subject'] == '192.0.2.10 | Found something suspicious'
    assert msg['From'] == 'newfilewatch@web1.example.com'
    assert msg['To'] == 'admin@example.com, ops@example.com'
    assert msg['Date'] and msg['Message-ID'].endswith('@web1.example.com>')
    body = msg.get_content()
    assert body.startswith('Server: web1.example.com\n')
    lines = body.splitlines()
    assert '/var/www/html/shell.php:3:<?php @eval($_POST["x"]);' in lines
    assert '/var/www/html/shell.php:7:base64_decode("ZXZhbA==")' in lines
    assert '    ^ php-eval-request (high)' in lines
    assert any('owner: alice' in l and '2048 bytes' in l for l in lines)
    assert '    sha256: ' + SHA in lines
    assert '    note: uploaded via PHP' in lines
    assert 'more, see' not in body


def test_subject_template_with_host_and_control_chars_stripped():
    cfg = CFG._replace(subject='[{host}] {ip}\r\nBcc: x@example.com alert')
    msg = _parse(mailfmt.render([_finding()], cfg, 'web\n1', '10.0.0.1'))
    assert msg['Subject'] == '[web1] 10.0.0.1Bcc: x@example.com alert'
    assert msg['Bcc'] is None
    assert msg['From'] == 'newfilewatch@web1'


def test_hostile_name_never_reaches_headers_and_stays_one_line():
    f = _finding(HOSTILE, hits=[model.Hit('php-eval-request', 1, 'x\ny\rz\x1b[0m', 'high', 20)])
    raw = mailfmt.render([f], CFG, 'web1', '192.0.2.10').as_bytes()
    head, _, _ = raw.partition(b'\n\n')
    assert b'victim' not in head and b'rm -rf' not in head
    msg = _parse(mailfmt.render([f], CFG, 'web1', '192.0.2.10'))
    assert msg['Bcc'] is None and msg['X'] is None
    assert set(msg.keys()) == {'Subject', 'From', 'To', 'Date', 'Message-ID', 'Auto-Submitted',
                               'X-Mailer', 'Content-Type', 'Content-Transfer-Encoding',
                               'MIME-Version'}
    body = msg.get_content()
    assert '\x1b' not in body and '\r' not in body
    name = escape.escape_name(HOSTILE)
    hit_line = [l for l in body.splitlines() if l.startswith('/var/www/html/up/')]
    assert hit_line == [name + ':1:x\\ny\\rz\\x1b[0m']
    assert escape.unescape_name(hit_line[0].rsplit(':1:', 1)[0]) == HOSTILE
    assert '\\xff\\xfe.php' in hit_line[0]


def test_excerpt_cut_to_line_width():
    cfg = CFG._replace(line_width=40)
    f = _finding(hits=[model.Hit('long', 2, 'A' * 500, 'low', 1)])
    body = _parse(mailfmt.render([f], cfg, 'h', '1.2.3.4')).get_content()
    line = [l for l in body.splitlines() if l.startswith('/var/www/html/shell.php:2:')][0]
    assert line == '/var/www/html/shell.php:2:' + 'A' * 37 + '...'


def test_private_finding_has_rules_and_metadata_but_no_excerpt():
    secret = 'DB_PASSWORD=hunter2'
    f = _finding('/home/bob/public_html/x.txt', private=True, owner='root', note='hard link to a file of root',
                 hits=[model.Hit('credential-file', 1, secret, 'high', 20)])
    body = _parse(mailfmt.render([f], CFG, 'h', '1.2.3.4')).get_content()
    assert 'hunter2' not in body and 'DB_PASSWORD' not in body
    assert '/home/bob/public_html/x.txt:1\n' in body
    assert '^ credential-file (high)' in body
    assert 'owner: root' in body and SHA in body and 'hard link to a file of root' in body


def test_more_names_the_log():
    body = _parse(mailfmt.render([_finding()], CFG, 'h', '1.2.3.4', more=480,
                                 log_path='/var/log/newfilewatch/newfiles.log')).get_content()
    assert body.rstrip().endswith('and 480 more, see /var/log/newfilewatch/newfiles.log')
    assert '481 suspicious files' in body


def test_utf8_name_round_trips_and_long_lines_are_transport_safe():
    f = _finding('/var/www/html/r\u00e9sum\u00e9-\u65e5\u672c.php',
                 hits=[model.Hit('x', 1, '=' * 1500, 'low', 1)])
    cfg = CFG._replace(line_width=2000)
    raw = mailfmt.render([f], cfg, 'h', '1.2.3.4').as_bytes()
    assert max(len(l) for l in raw.split(b'\n')) <= 78      # QP soft line breaks
    assert all(b < 0x80 for b in raw)
    body = _parse(mailfmt.render([f], cfg, 'h', '1.2.3.4')).get_content()
    assert '/var/www/html/r\u00e9sum\u00e9-\u65e5\u672c.php:1:' + '=' * 1500 in body


def test_finding_without_hits_or_hash():
    f = model.finding('/var/www/html/link.php', kind='symlink', owner='eve', note='symlink, not followed',
                      suspicious=True, score=10)
    body = _parse(mailfmt.render([f], CFG, 'h', '1.2.3.4')).get_content()
    assert '/var/www/html/link.php\n' in body and 'kind: symlink' in body and 'sha256' not in body


def test_stable_msgid_depends_on_the_set_of_alerts_only():
    a = mailfmt.stable_msgid(['1', '2'], 'web1')
    assert a == mailfmt.stable_msgid(['2', '1'], 'web1')
    assert a != mailfmt.stable_msgid(['1', '3'], 'web1')
    assert a.endswith('@web1>')
    msg = mailfmt.render([_finding()], CFG, 'web1', '1.2.3.4', msgid=a)
    assert msg['Message-ID'] == a


def test_test_mail():
    msg = _parse(mailfmt.render_test(CFG, 'web1', '192.0.2.10'))
    assert msg['Subject'] == '192.0.2.10 | Found something suspicious (test)'
    assert msg.get_content().startswith('Server: web1\n')


def test_body_names_the_writer_escaped_on_one_line():
    w = model.Writer(4711, 'php-fpm\n\x1b', 1001, 'alice', 'shop\r\nBcc: x')
    body = mailfmt.body_text([_finding(writer=w)], 'web1', '192.0.2.1')
    line = [l for l in body.splitlines() if 'writer:' in l][0]
    assert line == '    writer: pid 4711 php-fpm\\n\\x1b uid 1001 (alice) pool shop\\r\\nBcc: x'
    assert 'writer: none (inotify' in mailfmt.body_text([_finding()], 'web1', '192.0.2.1')


def test_the_mail_carries_the_quarantine_command_and_owner_mail_leaves_it_out():
    from newfilewatch import formatting
    f = model.finding('/www/x\n.php', owner='bob', sha256='ab' * 32, score=20, suspicious=True,
                      hits=[model.Hit('r', 1, 'x', 'high', 20)])
    body = mailfmt.body_text([f], 'h', '1.2.3.4')
    assert '    quarantine: %s' % formatting.quarantine_command(f) in body.splitlines()
    owner = mailfmt.body_text([f], 'h', '1.2.3.4', intro='Files of your account bob', commands=False)
    assert 'quarantine' not in owner and 'Files of your account bob' in owner
