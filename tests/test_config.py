"""Config: defaults, validation errors that point at the line, the shipped file, any bytes."""
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from newfilewatch import config
from tests.support.nfw import ROOT

SHIPPED = os.path.join(ROOT, 'etc', 'newfilewatch.conf')


def load_text(tmp_path, text):
    p = tmp_path / 'c.conf'
    p.write_bytes(text.encode('utf-8') if isinstance(text, str) else text)
    return config.load(str(p))


def problems(tmp_path, text):
    with pytest.raises(config.ConfigError) as info:
        load_text(tmp_path, text)
    return info.value.problems


def test_built_in_defaults_cover_the_classic_setup():
    cfg = config.load(None) if not os.path.exists(config.DEFAULT_PATH) else None
    if cfg is None:
        pytest.skip('%s exists on this machine' % config.DEFAULT_PATH)
    assert cfg.path is None
    assert '/home/*/public_html' in cfg.watch.dirs
    for pattern in ('*.php', '*.phtml', '*.php5', '*.inc', '*.txt', '*.html', '*.htm'):
        assert pattern in cfg.watch.include
    assert '*/wp-content/cache/*' in cfg.watch.exclude
    assert cfg.scan.keywords == ('wget', 'curl', 'lynx', 'gcc', 'perl', 'sh', 'cd', 'mkdir',
                                 'touch', 'base64')
    assert cfg.mail.subject == '{ip} | Found something suspicious'
    assert cfg.mail.method == 'sendmail' and cfg.mail.sendmail == '/usr/sbin/sendmail -t -oi'
    assert cfg.mail.to == ()                        # no mail without a config


def test_a_single_item_is_still_a_list(tmp_path):
    cfg = load_text(tmp_path, '[watch]\ndirs = /srv/www\n[mail]\nto = admin@example.org\n')
    assert cfg.watch.dirs == ('/srv/www',)
    assert cfg.mail.to == ('admin@example.org',)


def test_parse_error_names_its_line(tmp_path):
    assert problems(tmp_path, '[watch]\ndirs = /a\n[mail\nto = x\n') == [
        "line 3: Invalid line ('[mail') (matched as neither section nor keyword)"]


def test_every_validation_error_is_reported_with_section_key_and_line(tmp_path):
    got = problems(tmp_path, '[watch]\ndirs = relative/dir\nsettle_delay = soon\n'
                             '[mail]\nsmtp_port = 99999\nmethod = pigeon\n')
    assert 'line 3: [watch] settle_delay: the value "soon" is of the wrong type.' in got
    assert 'line 5: [mail] smtp_port: the value "99999" is too big.' in got
    assert any(p.startswith('line 6: [mail] method:') for p in got)
    assert "[watch] dirs: 'relative/dir' is not an absolute path" in got
    assert len(got) == 4


def test_unknown_keys_and_sections_are_errors_not_ignored(tmp_path):
    got = problems(tmp_path, '[watch]\ndirz = /a\n[mial]\nto = x\n')
    assert sorted(got) == ['line 2: [watch] dirz: unknown key', 'line 3: mial: unknown section']


def test_bad_subject_template_and_hash_are_caught(tmp_path):
    got = problems(tmp_path, '[mail]\nsubject = {ipaddr} alert\n[scan]\nallow_sha256 = abc\n')
    assert any('[mail] subject' in p for p in got)
    assert any("[scan] allow_sha256: 'abc'" in p for p in got)


def test_globs_python_cannot_compile_are_refused_not_crashed_on(tmp_path):
    import fnmatch
    text = '[watch]\nexclude = */cache/*, [z-a]*\n'
    try:
        re.compile(fnmatch.translate('[z-a]*'))    # 3.6: re.error; newer: matches nothing
    except re.error:
        assert problems(tmp_path, text) == ["[watch] exclude: '[z-a]*' is not a valid glob"]
    else:
        assert load_text(tmp_path, text).watch.exclude == ('*/cache/*', '[z-a]*')


def test_unreadable_and_non_utf8_files_get_clear_errors(tmp_path):
    assert problems(tmp_path, b'[watch]\ndirs = /\xff\n') == ['line 2: not valid UTF-8']
    with pytest.raises(config.ConfigError) as info:
        config.load(str(tmp_path / 'missing.conf'))
    assert 'cannot read' in info.value.problems[0]


def test_shipped_config_is_valid_and_documents_every_key():
    cfg = config.load(SHIPPED)
    assert cfg.mail.to == ('root',)
    with open(SHIPPED) as fh:
        text = fh.read()
    spec = config._spec()
    for section in config.SECTIONS:
        assert '[%s]' % section in text
        for key in spec[section]:
            assert re.search(r'^#? ?%s =' % re.escape(key), text, re.M), key


def test_watch_override_survives_as_a_fact_of_the_config():
    cfg = config.with_watch_dirs(config.load(SHIPPED), ['/tmp/x'])
    assert cfg.watch.dirs == ('/tmp/x',) and cfg.watch_override == ('/tmp/x',)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode('utf-8')))
def test_any_bytes_give_a_config_or_a_config_error(tmp_path, blob):
    try:
        cfg = load_text(tmp_path, blob)
    except config.ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert isinstance(cfg, config.Config)


def test_an_empty_value_is_an_empty_list_for_every_list_key(tmp_path):
    """Issue 11: `to =` was one empty recipient (the alert sat in the spool retrying) and
    uncommenting the shipped `# allow_sha256 =` was an error."""
    keys = sorted(config._LIST_KEYS - {('watch', 'dirs'), ('watch', 'include')})
    assert ('mail', 'to') in keys and ('scan', 'allow_sha256') in keys
    text = ''.join('[%s]\n%s =\n' % (s, k) for s, k in keys)
    from tests.support.nfw import merge_sections
    cfg = load_text(tmp_path, merge_sections('', text))
    for section, key in keys:
        assert getattr(getattr(cfg, section), config._field(key)) == (), (section, key)
    with open(SHIPPED) as fh:                      # the shipped line, uncommented
        shipped = fh.read().replace('# allow_sha256 =', 'allow_sha256 =')
    assert load_text(tmp_path, shipped).scan.allow_sha256 == ()


@pytest.mark.parametrize('text, key', [
    ('[watch]\nexclude = *\n', 'exclude'),
    ('[watch]\nexclude = */public_html/*, */html/*\n', 'exclude'),
    ('[watch]\ninclude = *.php\nexclude = *.php\n', 'exclude'),
    ('[watch]\ninclude =\n', 'include'),
    ('[watch]\ndirs =\n', 'dirs'),
])
def test_a_config_that_watches_nothing_is_an_error(tmp_path, text, key):
    """Issue 15: `exclude = *` or an empty `include` passed check-config; the daemon then
    reported nothing at all."""
    found = problems(tmp_path, text)
    assert found and all(p.startswith('[watch] %s:' % key) for p in found), found
    assert 'nothing' in found[0]


def test_an_exclude_covering_a_watch_dir_given_by_watch_is_refused_too(tmp_path):
    cfg = load_text(tmp_path, '[watch]\nexclude = */tmp/*\n')
    with pytest.raises(config.ConfigError) as info:
        config.with_watch_dirs(cfg, ['/srv/tmp/www'])
    assert '--watch' in info.value.problems[0]
    assert config.with_watch_dirs(cfg, ['/srv/www']).watch.dirs == ('/srv/www',)
    load_text(tmp_path, '[watch]\nexclude = */html\n')      # excludes no file: fine


class CountingLines(list):
    """The config's lines, counting how often anything walks over them."""
    walked = 0

    def __iter__(self):
        CountingLines.walked += 1
        return list.__iter__(self)


def test_line_numbers_of_thousands_of_typos_cost_one_pass(tmp_path, monkeypatch):
    """Issue 15: 16,000 typos took check-config 185 s: one scan of the whole file per problem.
    The number of passes over the lines must not grow with the number of problems."""
    counts = {}
    real = config._read_lines
    monkeypatch.setattr(config, '_read_lines', lambda p: CountingLines(real(p)))
    for typos in (50, 2000):
        text = '[watch]\n' + ''.join('typo%d = 1\n' % i for i in range(typos))
        path = tmp_path / ('c%d.conf' % typos)
        path.write_text(text)
        CountingLines.walked = 0
        with pytest.raises(config.ConfigError) as info:
            config.load(str(path))
        assert len(info.value.problems) == typos
        assert info.value.problems[-1] == 'line %d: [watch] typo%d: unknown key' % (typos + 1,
                                                                                    typos - 1)
        counts[typos] = CountingLines.walked
    assert counts[2000] == counts[50] <= 3, counts


def test_hooks_response_and_owner_keys_are_checked(tmp_path):
    path = tmp_path / 'c.conf'
    path.write_text('[hooks]\ncommand = notify "unclosed\nwebhook_url = hooks.slack.com/x\n'
                    '[response]\nauto_quarantine = yes\nauto_quarantine_command = sudo x\n'
                    '[mail]\nowner_address = admin@example.com\n[daemon]\nionice_class = fast\n')
    with pytest.raises(config.ConfigError) as err:
        config.load(str(path))
    text = '\n'.join(err.value.problems)
    for expected in ('[hooks] command: cannot parse', '[hooks] webhook_url', 'auto_quarantine_command',
                     '[mail] owner_address', 'ionice_class'):
        assert expected in text, text
    path.write_text('[hooks]\ncommand = /usr/local/bin/notify --to "ops team"\n'
                    'webhook_url = https://chat.example.com/hooks/x\n[mail]\nnotify_owner = yes\n'
                    'owner_address = {owner}@example.com\n[daemon]\nnice = 10\n')
    cfg = config.load(str(path))
    assert (cfg.hooks.max_running, cfg.daemon.nice, cfg.response.auto_quarantine) == (4, 10, False)
