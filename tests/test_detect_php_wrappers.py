"""Sinks behind the file's own functions: a parameter passed on to a command."""
from tests.support.families import php_family


def test_a_function_passing_its_parameter_to_a_command_is_followed():
    found = php_family(b"<?php function run($c) { return shell_exec($c); }\n"
                       b"echo run($_GET['c']);", 'wrapped_sinks')
    assert found == {'php.exec.request_input': [15]}


def test_a_wrapper_that_escapes_and_gets_a_literal_is_not():
    assert php_family(b"<?php function run($c) { return shell_exec('ls ' . escapeshellarg($c)); }\n"
                      b"echo run('x');", 'wrapped_sinks') == {}
