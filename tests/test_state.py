"""The catch-up time survives restarts and never leaves a torn file."""
import os

from newfilewatch import state


def test_round_trip_and_missing(tmp_path):
    path = str(tmp_path / 'sub' / 'state.json')
    assert state.load(path) is None
    assert state.save(path, 1234.5)
    assert state.load(path) == 1234.5
    assert os.listdir(str(tmp_path / 'sub')) == ['state.json']      # no temp file left


def test_garbage_is_no_state(tmp_path):
    p = tmp_path / 'state.json'
    for text in ('', '{', '[]', '{"caught_up": "yesterday"}'):
        p.write_text(text)
        assert state.load(str(p)) is None


def test_unwritable_dir_changes_nothing(tmp_path):
    target = tmp_path / 'file-not-dir'
    target.write_text('x')
    assert state.save(str(target / 'state.json'), 1.0) is False
    assert state.load('') is None and state.save('', 1.0) is False
