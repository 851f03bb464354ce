"""docs/flags.md and launcher/beam_flags.json are what `python -m launcher.flag_reference` writes from the options,
whatever the environment."""

import os

from launcher import flag_reference


def test_docs_flags_md_matches_the_options():
    with open(flag_reference.FLAGS_MD, encoding='utf-8') as handle:
        current = handle.read()
    assert current == flag_reference.render(), (
        'docs/flags.md is out of date with the options: run `.venv/bin/python -m launcher.flag_reference` '
        'and commit docs/flags.md')


def test_beam_flags_json_matches_beams_options():
    """launcher/check_flags.py accepts Beam's options by these names without importing Beam."""
    from launcher.check_flags import BEAM_FLAGS_JSON, beam_flags
    with open(BEAM_FLAGS_JSON, encoding='utf-8') as handle:
        assert handle.read() == flag_reference.render_beam_flags(), (
            'launcher/beam_flags.json is out of date with Beam: run `.venv/bin/python -m launcher.flag_reference`')
    names = beam_flags()
    assert names['--runner'] is None and names['--streaming'] == 0 and '--records' not in names


def test_reference_lists_every_own_flag_once_and_no_beam_option():
    text = flag_reference.render()
    run_part = text.split('## `python -m pipeline.compare`')[0]
    rows = [line.split('|')[1].strip() for line in run_part.splitlines() if line.startswith('| `--')]
    assert sorted(rows) == sorted('`--%s`' % dest for dest in flag_reference._own_dests())  # pylint: disable=protected-access
    assert '| `--runner`' not in text and '| `--project`' not in text


def test_render_does_not_depend_on_the_stack_environment(monkeypatch):
    monkeypatch.setenv('OIC_URL', 'http://127.0.0.1:1/ic/api/integration/v1/flows/rest/X/1.0/records')
    monkeypatch.setenv('OIC_TABLE', 'p:d.elsewhere')
    text = flag_reference.render()
    assert '127.0.0.1:1' not in text and 'elsewhere' not in text
    assert os.environ['OIC_TABLE'] == 'p:d.elsewhere'  # restored after rendering


def test_check_mode_reports_a_stale_file_with_the_command(tmp_path, monkeypatch, capsys):
    stale = tmp_path / 'flags.md'
    stale.write_text('# old\n', encoding='utf-8')
    monkeypatch.setattr(flag_reference, 'FLAGS_MD', str(stale))
    assert flag_reference.main(['--check']) == 1
    assert 'python -m launcher.flag_reference' in capsys.readouterr().err
    assert flag_reference.main([]) == 0 and stale.read_text(encoding='utf-8') == flag_reference.render()
    assert flag_reference.main(['--check']) == 0


def test_warehouse_options_adds_exactly_the_declared_flags():
    """A flag added to WarehouseOptions outside pipeline/flags.py would be refused by the quick check (unknown) and
    missing from --help and docs/flags.md: every flag is declared there, once."""
    import argparse
    from pipeline.flags import names
    from pipeline.options import WarehouseOptions
    scratch = argparse.ArgumentParser(add_help=False)
    WarehouseOptions._add_argparse_args(scratch)  # pylint: disable=protected-access
    added = [action.dest for action in scratch._actions]  # pylint: disable=protected-access
    assert sorted(added) == sorted(names()) and len(set(names())) == len(names())
