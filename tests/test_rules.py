"""Path rules are pure string matching: tested with strings only."""
from newfilewatch.rules import PathRules, under

R = PathRules(include=('*.php', '.htaccess', '*/cgi-bin/*'), exclude=('*/wp-content/cache/*', '*.min.js'),
              allow=('/srv/www/vendor/*',))


def test_base_name_globs_match_case_insensitively():
    assert R.wants_file('/srv/www/a.php')
    assert R.wants_file('/srv/www/SHELL.PHP')
    assert R.wants_file('/srv/www/.htaccess')
    assert not R.wants_file('/srv/www/a.php.bak')
    assert not R.wants_file('/srv/www/php')


def test_path_globs_match_the_whole_path():
    assert R.wants_file('/srv/www/cgi-bin/run')
    assert not R.wants_file('/srv/www/cgi-binx/run')


def test_excluded_dirs_are_pruned_with_everything_below():
    assert R.prunes_dir('/srv/www/wp-content/cache')
    assert R.prunes_dir('/srv/www/wp-content/cache/')
    assert not R.prunes_dir('/srv/www/wp-content')
    assert not R.prunes_dir('/srv/www/wp-content/cache2')
    assert not R.wants_file('/srv/www/wp-content/cache/page.php')


def test_allow_is_separate_from_include():
    assert R.wants_file('/srv/www/vendor/x.php') and R.is_allowed('/srv/www/vendor/x.php')
    assert not R.is_allowed('/srv/www/x.php')


def test_hostile_names_are_just_strings():
    assert R.wants_file('/srv/www/a\nb.php')
    assert R.wants_file('/srv/www/\udcff.php')


def test_under():
    assert under('/a/b', '/a') and under('/a', '/a') and under('/x', '/')
    assert not under('/ab', '/a')


import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from newfilewatch.rules import _Globs  # noqa: E402

glob_chars = st.sampled_from(list('ab./-*?[]!') + ['php', 'cache'])


@settings(max_examples=3000, deadline=None)
@given(st.lists(glob_chars, min_size=1, max_size=8).map(''.join),
       st.lists(st.sampled_from(list('ab./-[]!') + ['php', 'cache']), max_size=10).map(''.join))
def test_fast_glob_checks_mean_exactly_what_fnmatch_means(pattern, text):
    import fnmatch
    import re
    try:
        expected = fnmatch.fnmatchcase(text, pattern)
    except re.error:                      # e.g. '[b-a]' on Python 3.6: config.load refuses it
        with pytest.raises(re.error):
            _Globs([pattern])
        return
    assert _Globs([pattern])(text) == expected
    assert _Globs([pattern], fold=True)(text.upper()) == fnmatch.fnmatchcase(text, pattern.lower())
