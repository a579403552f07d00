"""Escapes from the site account: COM objects, XSLT calls, disable_functions bypasses; each
with the weight of its variant in the table."""
import pytest

from newfilewatch.detect import weights
from newfilewatch.detect.engine import Engine


@pytest.fixture(scope='module')
def eng():
    return Engine()


def hits(verdict):
    return sorted((h.rule, h.weight) for h in verdict.hits)


@pytest.mark.parametrize('obj,variant', [
    (b'WScript.Shell', 'runs_programs'), (b'IIS://localhost/w3svc', 'enumerates_server'),
    (b'WScript.Network', 'network_probe')])
def test_com_objects_weigh_by_what_they_reach(eng, obj, variant):
    v = eng.analyse(b'<?php $s = new COM("' + obj + b'"); echo $s->Name;', 'c.php')
    assert hits(v) == [('php.exec.com_object', weights.weight('php.exec.com_object', variant))]


def test_a_file_system_com_object_is_left_alone(eng):
    v = eng.analyse(b'<?php $fso = new COM("Scripting.FileSystemObject"); echo $fso->Drives;',
                    'c.php')
    assert 'php.exec.com_object' not in {h.rule for h in v.hits}


def test_xslt_calling_system_and_ld_preload(eng):
    x = eng.analyse(b'<?php $x = new XSLTProcessor(); $x->registerPHPFunctions();\n'
                    b'$q = "php:function(\'system\', \'id\')";', 'x.php')
    assert hits(x) == [('php.callback.dangerous_name', 12)] and x.suspicious
    b = eng.analyse(b'<?php putenv("LD_PRELOAD=/tmp/x.so"); mail("a@b", "", "");', 'b.php')
    assert hits(b) == [('php.bypass.restrictions', 12)] and b.suspicious
    ok = eng.analyse(b'<?php putenv("LANG=C"); mail("a@b", "", "");', 'b.php')
    assert not ok.hits
