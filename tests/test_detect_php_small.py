"""Short scripts: request input and a call through a variable is a one-line shell."""
from tests.support.families import scan_family


def test_a_one_line_shell_calling_a_request_chosen_function():
    found = scan_family(b"<?php $f = $_GET['f']; $f($_GET['a']);", 'small_script')
    assert found == {'php.small.dynamic_input': [12]}


def test_a_variable_holding_a_harmless_literal_name_is_not():
    assert scan_family(b"<?php $f = 'strtoupper'; echo $f($_GET['a']);", 'small_script') == {}
