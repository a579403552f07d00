"""The rule catalogue is consistent: names, severities, weights and caps make sense."""
from newfilewatch.detect import weights as signatures


def test_every_rule_is_well_formed():
    for name, rule in signatures.RULES.items():
        assert name == rule.name
        assert name.count('.') >= 1, name
        assert rule.severity in signatures.SEVERITIES, name
        assert rule.cap >= rule.weight >= 0, name
        assert rule.summary and rule.family


def test_critical_rules_alone_reach_the_default_threshold():
    for rule in signatures.RULES.values():
        if rule.severity == 'critical':
            assert rule.weight >= 10, rule.name
        if rule.severity in ('low', 'medium'):
            assert rule.cap < 10, rule.name       # weak evidence never flags a file alone


def test_families_cover_every_rule_once():
    names = [n for group in signatures.families().values() for n in group]
    assert sorted(names) == sorted(signatures.RULES)
