"""Short scripts: request input and a call through a variable is a one-line shell."""
from tests.support.families import scan_family


def test_a_one_line_shell_calling_a_request_chosen_function():
    found = scan_family(b"<?php $f = $_GET['f']; $f($_GET['a']);", 'small_script')
    assert found == {'php.small.dynamic_input': [12]}


def test_a_variable_holding_a_harmless_literal_name_is_not():
    assert scan_family(b"<?php $f = 'strtoupper'; echo $f($_GET['a']);", 'small_script') == {}


def test_array_intersect_key_takes_no_callback():
    src = b"<?php $p = array_intersect_key($_GET, array_flip(['id', 'q'])); echo count($p);"
    assert scan_family(src, 'small_script') == {}


def test_a_router_calling_a_method_of_its_controller_is_not_a_shell():
    src = (b"<?php [$class, $action] = $routes[$_SERVER['REQUEST_METHOD']][$path];\n"
           b"$c = new $class(); echo call_user_func_array([$c, $action], [$_GET]);")
    assert scan_family(src, 'small_script') == {}


def test_request_syntax_inside_a_string_is_text():
    src = (b"<?php $obj = is_callable($c) ? $c($this) : null;\n"
           b"throw new \\LogicException(\"Cannot resolve \\${$p->getName()}\");")
    assert scan_family(src, 'small_script') == {}
