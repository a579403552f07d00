"""Read /etc/newfilewatch.conf into one immutable Config, or say exactly what is wrong with it.

configobj parses and `validate` coerces against configspec.ini (types, ranges, lists); this
module only turns their results into plain values and readable problems.  It knows nothing of
inotify, daemons or mail.
"""
import collections
import fnmatch
import os
import re

import configobj

try:                                     # configobj >= 5.1 ships validate inside the package
    from configobj.validate import Validator
except ImportError:                      # configobj 5.0.x (EL7/EL8) ships it as a module
    from validate import Validator

DEFAULT_PATH = '/etc/newfilewatch.conf'
SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configspec.ini')
SECTIONS = ('watch', 'scan', 'log', 'mail', 'daemon', 'hooks', 'response', 'integrity')


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one human line per problem."""

    def __init__(self, path, problems):
        self.path = path
        self.problems = list(problems)
        Exception.__init__(self, '%s: %s' % (path, '; '.join(self.problems)))


def _spec():
    return configobj.ConfigObj(SPEC_PATH, list_values=False, _inspec=True, encoding='utf-8')


def _field(key):
    return key + '_' if key in ('from',) else key   # `from` is a Python keyword


def _section_types():
    spec = _spec()
    return {name: collections.namedtuple(name.capitalize(), [_field(k) for k in spec[name]])
            for name in SECTIONS}


_TYPES = _section_types()


class Config(collections.namedtuple('Config', SECTIONS + ('path', 'watch_override'))):
    """Validated settings: cfg.watch.dirs, cfg.mail.from_, ...

    `path` is the file read (None: built-in defaults); `watch_override` the `--watch` dirs that
    replace the configured ones, kept so a reload (SIGHUP) re-applies them to the new file.
    """

    def replace_section(self, name, **changes):
        return self._replace(**{name: getattr(self, name)._replace(**changes)})


class LineIndex(object):
    """Line numbers of sections and keys, for error messages (configobj keeps none).

    Built in one pass over the file, so a config with thousands of typos is reported in linear
    time (a scan of the whole file per problem took minutes for 16,000 of them).
    """

    def __init__(self, lines):
        self.keys = {}          # (section or None, key) -> first line number
        self.tops = {}          # top-level section or key name -> first line number
        current = None
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            m = _SECTION.match(stripped)
            if m:
                current = m.group(1)
                self.tops.setdefault(current, number)
                continue
            m = _KEY.match(stripped)
            if m:
                self.keys.setdefault((current, m.group(1)), number)
                if current is None:
                    self.tops.setdefault(m.group(1), number)

    def line_of(self, section, key):
        return self.keys.get((section, key))


_SECTION = re.compile(r'^\[+\s*([^\]]+?)\s*\]+')
_KEY = re.compile(r'^([^=]*?)\s*=')


def _where(index, section_path, key):
    section = section_path[-1] if section_path else None
    place = '[%s] %s' % ('/'.join(section_path), key) if section_path else key
    number = index.line_of(section, key) if key else None
    return 'line %d: %s' % (number, place) if number else place


def _parse(path, text_lines):
    try:
        return configobj.ConfigObj(text_lines, configspec=_spec(), file_error=True,
                                   encoding='utf-8', interpolation=False)
    except configobj.ConfigObjError as exc:
        errors = getattr(exc, 'errors', None) or [exc]
        problems = []
        for err in errors:
            number = getattr(err, 'line_number', None)
            message = getattr(err, 'message', None) or str(err)
            message = re.sub(r'\s*at line \d+\.?$', '', message).rstrip('.')
            problems.append('line %s: %s' % (number, message) if number else message)
        raise ConfigError(path, problems)


def _read_lines(path):
    try:
        with open(path, 'rb') as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(path, ['cannot read: %s' % (exc.strerror or exc)])
    try:
        return data.decode('utf-8').splitlines()
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b'\n') + 1
        raise ConfigError(path, ['line %d: not valid UTF-8' % line])


def load(path=None):
    """Return a Config from `path`; None means /etc/newfilewatch.conf if present, else defaults."""
    if path is None and os.path.exists(DEFAULT_PATH):
        path = DEFAULT_PATH
    lines = _read_lines(path) if path else []
    cfg = _parse(path, lines)
    result = cfg.validate(Validator(), preserve_errors=True)
    problems = []
    index = LineIndex(lines)
    if result is not True:
        for section_path, key, error in configobj.flatten_errors(cfg, result):
            if error is False:
                what = 'missing' if key else 'section missing'
            else:
                what = str(error)
            problems.append('%s: %s' % (_where(index, section_path, key or ''), what))
    for section_path, name in configobj.get_extra_values(cfg):
        kind = 'section' if isinstance(_get(cfg, section_path).get(name), dict) else 'key'
        where = _where(index, list(section_path), name) if section_path else _top_where(index, name)
        problems.append('%s: unknown %s' % (where, kind))
    _drop_empty_items(cfg)
    problems.extend(_semantic_problems(cfg))
    if problems:
        raise ConfigError(path or '(built-in defaults)', problems)
    sections = {name: _TYPES[name](**{_field(k): _freeze(v) for k, v in cfg[name].items()})
                for name in SECTIONS}
    return Config(path=path, watch_override=(), **sections)


def _get(cfg, section_path):
    for part in section_path:
        cfg = cfg[part]
    return cfg


def _top_where(index, name):
    number = index.tops.get(name)
    return 'line %d: %s' % (number, name) if number else name


def _list_keys():
    spec = _spec()
    return {(name, key) for name in SECTIONS for key, check in spec[name].items()
            if isinstance(check, str) and check.split('(')[0].strip().endswith('list')}


_LIST_KEYS = _list_keys()


def _drop_empty_items(cfg):
    """`to =` is configobj's one empty string: for a list key it means the empty list (no
    recipients, no allowed hashes), and an empty item in a list means nothing either."""
    for name, key in _LIST_KEYS:
        section = cfg.get(name)
        if isinstance(section, dict) and isinstance(section.get(key), list):
            section[key] = [v for v in section[key] if not (isinstance(v, str) and not v.strip())]


def blind_problems(watch_dirs, include, exclude):
    """Settings that make the daemon watch and report nothing, silently: no include pattern,
    or an exclude pattern that covers a whole watch dir.  Pure (string matching only)."""
    from newfilewatch.rules import PathRules
    if not watch_dirs:
        return ['[watch] dirs: empty: nothing would ever be watched']
    if not include:
        return ['[watch] include: empty: nothing would ever be reported']
    samples = [_sample_name(p) for p in include]
    problems = []
    for root in watch_dirs:
        root = root.rstrip('/') or '/'
        for pattern in exclude:
            rules = PathRules(include, [pattern])
            if rules.prunes_dir(root) or not any(
                    rules.wants_file(root + '/' + name) or rules.wants_file(root + '/d/' + name)
                    for name in samples):
                problems.append('[watch] exclude: %r excludes everything under %s: nothing there '
                                'would ever be reported' % (pattern, root))
                break
    return problems


def _sample_name(pattern):
    """A file name the include glob matches ('*.php' -> 'x.php'), to test excludes against."""
    name = pattern.rsplit('/', 1)[-1]
    name = re.sub(r'\[!?(.)[^\]]*\]', lambda m: 'x' if m.group(0)[1] == '!' else m.group(1), name)
    return name.replace('*', 'x').replace('?', 'x')


def _freeze(value):
    return tuple(value) if isinstance(value, list) else value


def _semantic_problems(cfg):
    """Checks a type cannot express: absolute watch dirs, well-formed hashes, usable mail route."""
    problems = []
    if not isinstance(cfg.get('watch'), dict) or not isinstance(cfg.get('scan'), dict):
        return problems
    for d in cfg['watch'].get('dirs') or ():
        if not isinstance(d, str) or not d.startswith('/'):
            problems.append('[watch] dirs: %r is not an absolute path' % (d,))
    for section, key in (('watch', 'include'), ('watch', 'exclude'), ('scan', 'allow_paths')):
        for pattern in cfg[section].get(key) or ():
            try:
                re.compile(fnmatch.translate(pattern))
            except (re.error, TypeError):
                problems.append('[%s] %s: %r is not a valid glob' % (section, key, pattern))
    for h in cfg['scan'].get('allow_sha256') or ():
        if not isinstance(h, str) or not re.match(r'^[0-9a-fA-F]{64}$', h):
            problems.append('[scan] allow_sha256: %r is not a sha256 hex digest' % (h,))
    if not problems:
        problems.extend(blind_problems(cfg['watch'].get('dirs') or (),
                                       cfg['watch'].get('include') or (),
                                       cfg['watch'].get('exclude') or ()))
    mail = cfg.get('mail')
    if isinstance(mail, dict) and isinstance(mail.get('subject'), str):
        try:
            mail['subject'].format(ip='', host='')
        except (KeyError, IndexError, ValueError) as exc:
            problems.append('[mail] subject: bad template (%s); use {ip} and {host}' % exc)
    problems.extend(_response_problems(cfg))
    problems.extend(_integrity_problems(cfg.get('integrity')))
    return problems


def _response_problems(cfg):
    """[hooks] command and webhook_url usable, [mail] owner_address a template of {owner}."""
    import shlex
    import urllib.parse
    problems = []
    hooks = cfg.get('hooks')
    if isinstance(hooks, dict):
        command = hooks.get('command')
        if isinstance(command, str) and command:
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                argv, problems = None, problems + ['[hooks] command: cannot parse: %s' % exc]
            if argv is not None and not os.path.isabs(argv[0] if argv else ''):
                problems.append('[hooks] command: %r must start with an absolute path' % command)
        url = hooks.get('webhook_url')
        if isinstance(url, str) and url:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ('http', 'https') or not parts.hostname:
                problems.append('[hooks] webhook_url: %r is not an http:// or https:// URL' % url)
    response = cfg.get('response')
    if isinstance(response, dict) and response.get('auto_quarantine') and isinstance(
            response.get('auto_quarantine_command'), str):
        try:
            argv = shlex.split(response['auto_quarantine_command'])
        except ValueError:
            argv = []
        if not argv or not os.path.isabs(argv[0]):
            problems.append('[response] auto_quarantine_command: %r must start with an absolute '
                            'path' % response['auto_quarantine_command'])
    mail = cfg.get('mail')
    if isinstance(mail, dict) and isinstance(mail.get('owner_address'), str) and \
            mail['owner_address'] and '{owner}' not in mail['owner_address']:
        problems.append('[mail] owner_address: %r lacks {owner}' % mail['owner_address'])
    return problems


def _integrity_problems(section):
    """[integrity] URL templates: http(s) and only the placeholders the lookup fills in."""
    problems = []
    for key, names in (('core_checksums_url', ('version', 'locale')),
                       ('plugin_checksums_url', ('slug', 'version'))):
        value = section.get(key) if isinstance(section, dict) else None
        if not isinstance(value, str):
            continue
        try:
            value.format(**{n: 'x' for n in names})
        except (KeyError, IndexError, ValueError) as exc:
            problems.append('[integrity] %s: bad template (%s); use %s' % (
                key, exc, ' and '.join('{%s}' % n for n in names)))
        if not value.startswith(('http://', 'https://')):
            problems.append('[integrity] %s: not an http(s) URL' % key)
    return problems


def with_watch_dirs(cfg, dirs):
    """Config with `dirs` replacing the configured watch dirs (the `--watch` option)."""
    dirs = tuple(os.path.abspath(d) for d in dirs)
    if not dirs:
        return cfg
    blind = blind_problems(dirs, cfg.watch.include, cfg.watch.exclude)
    if blind:
        raise ConfigError(cfg.path or '(built-in defaults)', [p + ' (--watch)' for p in blind])
    return cfg.replace_section('watch', dirs=dirs)._replace(watch_override=dirs)
