"""The weight table is the only place a figure of the score lives: variants are well formed,
and the rule modules name variants instead of writing numbers."""
import ast
import os
import sys

import pytest

from newfilewatch.detect import weights

DETECT = os.path.join(os.path.dirname(__file__), os.pardir, 'newfilewatch', 'detect')


def _trees():
    for name in sorted(os.listdir(DETECT)):
        if name.endswith('.py'):
            with open(os.path.join(DETECT, name), encoding='utf-8') as fh:
                yield name, ast.parse(fh.read(), name)


def _literal(node):
    """(True, value) for a literal node, on every Python this runs on; else (False, None)."""
    if sys.version_info >= (3, 8):
        return (True, node.value) if isinstance(node, ast.Constant) else (False, None)
    for cls, attr in (('Str', 's'), ('Num', 'n'), ('NameConstant', 'value')):
        if isinstance(node, getattr(ast, cls)):
            return True, getattr(node, attr)
    return False, None


def _outcomes(node):
    """What an expression can evaluate to, through `a if cond else b` chains."""
    if isinstance(node, ast.IfExp):
        return _outcomes(node.body) + _outcomes(node.orelse)
    return [node]


def test_every_variant_belongs_to_a_rule_and_weighs_something():
    assert weights.VARIANTS
    for (rule, variant), weight in weights.VARIANTS.items():
        assert rule in weights.RULES, rule
        assert variant and isinstance(weight, int) and weight > 0, (rule, variant)


def test_weight_looks_up_the_rule_or_its_variant():
    assert weights.weight('php.exec.com_object') == weights.RULES['php.exec.com_object'].weight
    assert weights.weight('php.exec.com_object', 'runs_programs') == 12
    with pytest.raises(KeyError):
        weights.weight('php.exec.com_object', 'no_such_variant')
    with pytest.raises(KeyError):
        weights.weight('no.such.rule')


def test_rule_modules_pass_no_weight_and_only_known_variants():
    known = {v for _r, v in weights.VARIANTS}
    values, calls = [], 0
    for module, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == 'hit':
                calls += 1
                for kw in node.keywords:
                    assert kw.arg != 'weight', '%s:%d passes a weight' % (module, node.lineno)
                    if kw.arg == 'variant':
                        values += [(module, node.lineno, o) for o in _outcomes(kw.value)]
            elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == 'variant' for t in node.targets):
                values += [(module, node.lineno, o) for o in _outcomes(node.value)]
    assert calls > 50                          # the walk really found the rule modules' hits
    used = set()
    for module, line, node in values:
        is_literal, value = _literal(node)
        if not is_literal:
            assert isinstance(node, ast.Name), '%s:%d' % (module, line)  # set from literals
            continue
        assert value is None or value in known, '%s:%d: %r' % (module, line, value)
        used.add(value)
    assert used - {None} == known              # no variant of the table is left unused
