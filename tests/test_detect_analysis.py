"""Token analysis: folding, flow-insensitive taint and obfuscation, each family with a small
sample written here and a benign near miss.  Hostile shapes are checked on work counters."""
import pytest

from newfilewatch.detect import analysis
from newfilewatch.detect.engine import Engine


def rules(src):
    return {f.rule for f in analysis.Analysis(src).run().findings}


def verdict(src, name='x.php'):
    return Engine(keywords=['wget']).analyse(src, name)


# --- names built at run time ---------------------------------------------------------------
def test_scrambled_alphabet_call_with_input():
    src = (b'<?php $s = "zyxwvutsrqponmlkjihgfedcba_";\n'
           b'$f = $s[(14/2)].$s{1}.$s[7].$s[(12/2)].$s[25-4].$s[13];\n$f($_POST["c"]);')
    assert {'php.exec.request_input', 'php.obfuscation.built_call'} <= rules(src)
    assert verdict(src).suspicious


def test_bitwise_bare_constant_name():
    src = b'<?php $k = ~"\\x8c\\x86\\x8c\\x8b\\x9a\\x92"; $k($_GET[1]);'
    assert 'php.exec.request_input' in rules(src)


def test_variable_function_of_a_literal_is_not_built():
    src = b"<?php $f = 'strtolower'; echo $f($_GET['q']);"
    assert rules(src) == set()
    assert not verdict(src).suspicious


# --- taint that does not depend on statement order -----------------------------------------
def test_goto_reordered_flow_is_followed():
    src = (b'<?php goto b; a: system($c); exit; b: $c = $_REQUEST["x"]; goto a;')
    assert 'php.exec.request_input' in rules(src)


def test_taint_through_function_parameter_and_return():
    src = (b'<?php function pick($k) { return $_COOKIE[$k]; }\n'
           b'function run($c) { passthru($c); }\nrun(pick("z"));')
    assert 'php.exec.request_input' in rules(src)


def test_taint_through_property_into_destructor():
    src = (b'<?php class A { public $code; function __destruct() { eval($this->code); } }\n'
           b'$o = new A; $o->code = $_POST["x"];')
    assert 'php.code.request_input' in rules(src)


def test_extract_then_call():
    src = b'<?php extract($_REQUEST); $fn($arg);'
    assert 'php.call.request_function' in rules(src)


def test_eval_inside_a_sanitizer_call_is_still_eval():
    src = (b'<?php if (isset($_POST["code"])) { $code = str_replace("<?php", "", $_POST["code"]);\n'
           b'echo htmlspecialchars(eval($code)); }')
    assert 'php.code.request_input' in rules(src)


def test_sanitized_and_looked_up_values_are_not_request_data():
    src = (b'<?php $id = intval($_GET["id"]); system("convert " . $id);\n'
           b'$cb = $handlers[$_GET["action"]]; call_user_func($cb);\n'
           b'$t = get_taxonomy($_POST["tax"]); call_user_func($t->sanitize_cb, 1);\n'
           b'$l = preg_replace("/[^a-z]/", "", $_GET["l"]); include "lang/" . $l . ".php";')
    assert rules(src) == set()


def test_dispatcher_of_own_methods_is_not_a_shell():
    src = b'<?php $m = $_GET["m"]; call_user_func(array($this, $m), $_POST);'
    assert 'php.call.request_function' not in rules(src)


def test_request_chosen_callback():
    src = b'<?php $f = $_GET["f"]; array_map($f, array($_GET["a"]));'
    assert 'php.call.request_function' in rules(src)


def test_callback_by_built_name_with_input():
    src = b'<?php array_map("as"."sert", (array)$_REQUEST["page"]);'
    assert 'php.code.request_input' in rules(src)


def test_closure_body_is_not_the_callback():
    src = b'<?php usort($rows, function ($a, $b) use ($order) { return $_GET["x"] <=> $b; });'
    assert 'php.call.request_function' not in rules(src)


# --- decoded code ----------------------------------------------------------------------------
def test_eval_of_folded_decoder_output_is_analysed_as_code():
    src = b"<?php $x = base64_decode('ZXZhbCgkX1BPU1RbJ2EnXSk7'); eval($x);"
    an = analysis.Analysis(src).run()
    assert an.payloads and b'$_POST' in an.payloads[0][1]
    v = verdict(src)
    assert v.suspicious and any(h.text.startswith('decoded:') for h in v.hits)


def test_eval_of_a_plain_literal_is_not_decoded_code():
    src = b"<?php eval('return 1 + 2;');"
    assert 'php.code.decoded_input' not in rules(src)


# --- obfuscation adds to capability, never alerts alone --------------------------------------
SOUP = b''.join(b'$O0O0%s = %d;\n' % (b'O' * i, i) for i in range(1, 9))


def test_obfuscation_without_capability_is_a_note():
    v = verdict(b'<?php ' + SOUP + b'echo $O0O0O;')
    assert not v.suspicious


def test_obfuscation_with_capability_alerts():
    src = b'<?php ' + SOUP + b'$O0O0OO = "ev"."al"; $O0O0OOO = $O0O0OO; eval($O0O0O . $_x);'
    v = verdict(src)
    names = {h.rule for h in v.hits}
    assert 'php.obfuscation.identifier_soup' in names
    assert 'php.obfuscation.with_capability' in names


# --- bounded cost on hostile shapes (work counters, not time) ---------------------------------
@pytest.mark.parametrize('src', [
    b'<?php $a = "' + b'system($x); ' * 20000,                       # one quote, thousands of sinks
    b'<?php ' + b'$a' * 50000,                                      # dense variables
    b'<?php ' + b'(' * 50000,                                       # unclosed brackets
    b'<?php /* ' + b'eval($_GET[1]); ' * 10000,                     # unclosed comment
    b'<?php $a = <<<EOT\n' + b'$x $y ' * 20000,                     # unclosed heredoc
    b'<?php ' + b''.join(b'function f%d($a) { return g($a); }\n' % i for i in range(10000)),
    b'<?php $a = ' + b'$b = ' * 20000 + b'$_GET[1]; system($a);',   # assignment chains
    b'<?php system(' + b'base64_decode(' * 5000 + b'$_GET[1]' + b')' * 5001 + b';',
])
def test_hostile_shapes_cost_linear_work(src):
    an = analysis.Analysis(src)
    try:
        an.run()
    except analysis.BudgetExceeded:
        pass
    assert an.work <= an.max_work + len(an.toks)
    assert an.max_work <= 60 * len(an.toks) + 200000
    assert an.fbudget.used <= an.fbudget.steps + 100


def test_budget_exhaustion_is_reported_not_passed():
    eng = Engine(keywords=[], max_cpu=0.05)
    big = b'<?php ' + b''.join(b'$v%d = $_GET["a"] . $v%d; system($v%d);\n' % (i, i + 1, i) for i in range(40000))
    v = eng.analyse(big, 'big.php')
    assert any(h.rule == 'analysis.budget' for h in v.hits) or v.suspicious


def test_function_tables_and_small_functions_fold():
    src = (b"<? $GLOBALS['_t']=Array(base64_decode('bW' .'Q1'), base64_decode('c3lz' .'dGVt'));\n"
           b"function _k($i) { $a = Array('x', 'UkVRVUVTVF9VUkk='); return base64_decode($a[$i]); }\n"
           b"$GLOBALS['_t'][1]($_SERVER[_k(1)]);")
    assert 'php.exec.request_input' in rules(src)


def test_spl_container_callback():
    src = b"<?php $arr = new ArrayObject(array('test', $_REQUEST['pass'])); $arr->uasort('assert');"
    assert 'php.callback.dangerous_name' in rules(src)


def test_taint_through_a_constructor_into_to_string():
    src = (b"<?php final class Tpl { private $body; public function __construct($b) { $this->body = $b; }\n"
           b"  public function __toString() { ob_start(); eval('?>' . $this->body); return ob_get_clean(); } }\n"
           b"function req($k) { return $_POST[$k] ?? null; }\n"
           b"$t = new Tpl(gzuncompress(base64_decode(req('tpl')))); echo \"$t\";")
    assert 'php.code.request_input' in rules(src)
