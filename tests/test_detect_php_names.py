"""Names built at run time: a function name folded from pieces into an execution function."""
from tests.support.families import php_family


def test_a_name_joined_into_system_and_called():
    found = php_family(b"<?php $f = 'sys' . 'tem'; $f($_GET['c']);", 'computed')
    assert found['php.call.computed_name'] == [15]


def test_a_name_joined_into_a_harmless_function_is_not():
    assert php_family(b"<?php $f = 'str' . 'len'; echo $f($x);", 'computed') == {}
