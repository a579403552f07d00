"""A fake WordPress install and a real HTTP server on 127.0.0.1 answering like WordPress.org.

The server speaks the formats the real services use (see newfilewatch/wordpress.py):
core `{"checksums": {"wp-admin/about.php": "<md5>"}}` or `{"checksums": false}`, plugins
`{"files": {"readme.txt": {"md5": "..", "sha256": ".."}}}` (values may be lists), 404 for
what it does not know.  Routes can be made slow or broken to test the failure paths.
"""
import hashlib
import http.server
import json
import os
import socketserver
import threading
import time
import urllib.parse

from tests.support.nfw import merge_sections

CORE_FILES = {
    'index.php': b"<?php\ndefine('WP_USE_THEMES', true);\n"
                 b"require __DIR__ . '/wp-blog-header.php';\n",
    'wp-login.php': b"<?php\nrequire __DIR__ . '/wp-load.php';\n$action = 'login';\n",
    'wp-admin/about.php': b"<?php\nrequire_once __DIR__ . '/admin.php';\necho 'About';\n",
    'wp-admin/admin.php': b"<?php\nrequire_once dirname(__DIR__) . '/wp-load.php';\n",
    # stock code that the rules would flag on its own: known good must spare it the analysis
    'wp-includes/class-wp-shell.php':
        b'<?php if (isset($_REQUEST["c"])) { system($_REQUEST["c"]); }\n',
    'wp-includes/functions.php': b"<?php\nfunction wp_die() { exit; }\n",
    'wp-content/index.php': b"<?php\n// Silence is golden.\n",
}
PLUGIN_FILES = {
    '1.0': {'hello-there.php': b"<?php\n/*\nPlugin Name: Hello There\nVersion: 1.0\n*/\n",
            'inc/run.php': b'<?php eval($_POST["x"]);\n',          # flagged by the rules
            'readme.txt': b'=== Hello There ===\nStable tag: 1.0\n'},
    '2.0': {'hello-there.php': b"<?php\n/*\nPlugin Name: Hello There\nVersion: 2.0\n*/\n",
            'inc/run.php': b'<?php eval($_POST["y"]);\n',
            'readme.txt': b'=== Hello There ===\nStable tag: 2.0\n'},
}
VERSION = '6.4.2'


def md5(data):
    return hashlib.md5(data).hexdigest()


def version_php(version=VERSION, locale=None):
    text = "<?php\n$wp_version = '%s';\n$wp_db_version = 56657;\n" % version
    if locale:
        text += "$wp_local_package = '%s';\n" % locale
    return text.encode()


def core_checksums(version=VERSION, locale=None):
    files = dict(CORE_FILES)
    files['wp-includes/version.php'] = version_php(version, locale)
    return {'checksums': {p: md5(d) for p, d in files.items()}}


def plugin_checksums(version):
    files = PLUGIN_FILES[version]
    out = {'plugin': 'hello-there', 'version': version, 'source': [], 'zip': [], 'files': {}}
    for p, d in files.items():
        out['files'][p] = {'md5': [md5(d), md5(b'another build')],
                           'sha256': hashlib.sha256(d).hexdigest()}
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as fh:
        fh.write(data)
    return path


def make_site(root, version=VERSION, plugin_version='1.0'):
    """A WordPress tree whose every file matches the checksums the server publishes."""
    write(os.path.join(root, 'wp-includes', 'version.php'), version_php(version))
    for rel, data in CORE_FILES.items():
        write(os.path.join(root, rel), data)
    write(os.path.join(root, 'wp-config.php'), b"<?php\ndefine('DB_NAME', 'wp');\n")
    if plugin_version:
        for rel, data in PLUGIN_FILES[plugin_version].items():
            write(os.path.join(root, 'wp-content', 'plugins', 'hello-there', rel), data)
    return root


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True        # a deliberately hanging answer must not hold up shutdown


class ChecksumServer(object):
    """http.server on 127.0.0.1 (a free port) in a thread; `routes` maps a request path (with
    its query) to (status, body bytes); `delay` slows every answer; `hits` counts requests."""

    def __init__(self):
        self.routes = {}
        self.delay = 0.0
        self.hits = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                status, body = server.routes.get(self.path, (404, b'Not Found'))
                if server.delay:
                    time.sleep(server.delay)
                try:
                    self.send_response(status)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = _ThreadingServer(('127.0.0.1', 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever)
        self.thread.daemon = True
        self.thread.start()

    @property
    def base(self):
        return 'http://127.0.0.1:%d' % self.port

    def core_url(self):
        return self.base + '/core/checksums/1.0/?version={version}&locale={locale}'

    def plugin_url(self):
        return self.base + '/plugin-checksums/{slug}/{version}.json'

    def serve_core(self, doc, version=VERSION, locale='en_US'):
        path = '/core/checksums/1.0/?' + urllib.parse.urlencode([('version', version),
                                                                 ('locale', locale)])
        self.routes[path] = (200, doc if isinstance(doc, bytes) else json.dumps(doc).encode())
        return path

    def serve_plugin(self, version, slug='hello-there', doc=None):
        path = '/plugin-checksums/%s/%s.json' % (slug, version)
        doc = plugin_checksums(version) if doc is None else doc
        self.routes[path] = (200, doc if isinstance(doc, bytes) else json.dumps(doc).encode())
        return path

    def config(self, cache_dir, extra=''):
        return merge_sections('[integrity]\ncore_checksums_url = %s\nplugin_checksums_url = %s\n'
                              'cache_dir = %s\ntimeout = 5\n'
                              % (self.core_url(), self.plugin_url(), cache_dir), extra)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
