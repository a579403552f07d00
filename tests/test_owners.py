"""[mail] notify_owner: addresses from the map, cPanel or the template; a running watcher mails
each throw-away owner only their own files (real aiosmtpd), while the admin gets everything."""
import os

from newfilewatch import owners
from tests.support.nfw import Runner
from tests.support.service import WEBSHELL, needs_root, temp_user, write_private_file
from tests.support.smtp import smtp_server, wait_until  # noqa: F401


def test_owner_map_lines_and_their_problems():
    mapping, problems = owners.parse_owner_map(
        '# who gets what\nalice alice@example.com\n\nbob  bob@example.org  # comment\n'
        'mallory evil@example.com\\nBcc: x@y\ncarol not-an-address\n')
    assert mapping == {'alice': 'alice@example.com', 'bob': 'bob@example.org'}
    assert [p.split(':')[0] for p in problems] == ['line 5', 'line 6']


def test_cpanel_contact_and_template():
    assert owners.parse_cpanel_user('DNS=x.com\nCONTACTEMAIL=o@x.com\nCONTACTEMAIL2=b@x.com\n') \
        == 'o@x.com'
    assert owners.parse_cpanel_user('DNS=x.com\n') == ''
    assert owners.from_template('{owner}@example.com', 'alice') == 'alice@example.com'


def test_first_source_wins_and_bad_names_never_reach_a_path(tmp_path):
    cpanel = tmp_path / 'cpanel'
    cpanel.mkdir()
    (cpanel / 'bob').write_text('CONTACTEMAIL=bob@cp.example.com\n')
    (cpanel / 'alice').write_text('CONTACTEMAIL=alice@cp.example.com\n')
    (cpanel / 'eve').write_text('CONTACTEMAIL=eve@x.com, other@y.com\n')
    book = owners.AddressBook({'alice': 'alice@map.example.com'}, str(cpanel), '{owner}@t.example.com')
    assert book.address('alice') == 'alice@map.example.com'
    assert book.address('bob') == 'bob@cp.example.com'
    assert book.address('carol') == 'carol@t.example.com'
    assert book.address('eve') == 'eve@t.example.com'          # cPanel value unusable: next one
    for hostile in ('../etc', 'a b', 'x\n', '', '1001\udcff', '1001'):
        assert book.address(hostile) is None
    assert owners.AddressBook().address('alice') is None        # no source: no owner mail


@needs_root
def test_each_owner_gets_only_their_files_and_the_admin_gets_all(tmp_path, smtp_server):
    www = tmp_path / 'www'
    www.mkdir()
    os.chmod(str(www), 0o755)
    with temp_user() as one, temp_user() as two, temp_user() as three:
        owner_map = tmp_path / 'owners'
        owner_map.write_text('%s one@example.com\n' % one.name)
        cpanel = tmp_path / 'cpanel'
        cpanel.mkdir()
        (cpanel / two.name).write_text('CONTACTEMAIL=two@example.org\n')
        conf = ('[mail]\nto = admin@example.com\nmethod = smtp\nsmtp_host = 127.0.0.1\n'
                'smtp_port = %d\nbatch_window = 2\nnotify_owner = yes\nowner_map = %s\n'
                'cpanel_users_dir = %s\n' % (smtp_server.port, owner_map, cpanel))
        runner = Runner(tmp_path, str(www), extra_config=conf)

        def delivered():
            got = {}
            for msg in smtp_server.messages():
                got.setdefault(msg['To'], []).append(msg.get_content())
            return got
        try:
            runner.ready()
            files = {}
            for user, names in ((one, ('a.php', 'b.php')), (two, ('c.php',)), (three, ('d.php',))):
                for name in names:
                    path = str(www / name)
                    write_private_file(path, WEBSHELL + name.encode(), user, 0o644)
                    files[path] = user
            for path in files:
                runner.events.wait('alert', path)
            # admin: all four; one: a, b; two: c; three has no address: none
            def complete():
                got = delivered()
                texts = {to: '\n'.join(bodies) for to, bodies in got.items()}
                return (all(p in texts.get('admin@example.com', '') for p in files) and
                        all(str(www / n) in texts.get('one@example.com', '') for n in ('a.php', 'b.php'))
                        and str(www / 'c.php') in texts.get('two@example.org', ''))
            wait_until(complete, timeout=30, what='the admin and owner mails')
        finally:
            runner.stop()
        got = delivered()
        assert set(got) == {'admin@example.com', 'one@example.com', 'two@example.org'}
        one_text = '\n'.join(got['one@example.com'])
        assert str(www / 'a.php') in one_text and str(www / 'b.php') in one_text
        assert str(www / 'c.php') not in one_text and str(www / 'd.php') not in one_text
        assert 'Files of your account %s' % one.name in one_text
        assert 'newfilewatch quarantine' not in one_text           # a root command: admin only
        two_text = '\n'.join(got['two@example.org'])
        assert str(www / 'c.php') in two_text and str(www / 'a.php') not in two_text
        admin = '\n'.join(got['admin@example.com'])
        assert all(p in admin for p in files) and 'quarantine: newfilewatch quarantine' in admin
