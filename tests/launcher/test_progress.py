"""The progress line counts the run record as it grows, whole lines only."""

import io

from launcher.progress import LineCounter, Progress, format_progress
from pipeline import path_specs
from transforms.run_record.files import clear_previous


def test_counts_only_whole_lines_incrementally(tmp_path):
    (tmp_path / 'oic').mkdir()
    acks = tmp_path / 'oic' / 'acks-a.jsonl'
    acks.write_text('{"a": 1}\n{"a": 2}\n{"a"')
    counter = LineCounter(str(tmp_path))
    assert counter.counts()['oic/acks'] == 2
    with open(acks, 'a') as handle:
        handle.write(': 3}\n')
    (tmp_path / 'oic' / 'acks-b.jsonl').write_text('{}\n')
    assert counter.counts()['oic/acks'] == 4


def test_format_names_each_path():
    counts = {'invalid': 1, 'oic/sent': 9, 'oic/acks': 7, 'oic/dead_letters': 1, 'direct/sent': 9,
              'direct/dead_letters': 0}
    line = format_progress(counts, ('oic', 'direct'), 3.0)
    assert 'generated 10 (invalid 1)' in line and 'oic: sent 9, acked 7, dead-lettered 1' in line
    assert 'direct: sent 9, failed 0' in line


def test_progress_prints_a_final_line(tmp_path):
    stream = io.StringIO()
    with Progress(str(tmp_path), ('oic',), interval=60, stream=stream):
        pass
    assert 'oic: sent 0' in stream.getvalue()


def test_clear_previous_removes_only_the_run_record(tmp_path):
    for name in ('run.json', 'report.json', 'invalid-x.jsonl', 'notes.txt'):
        (tmp_path / name).write_text('x')
    for path in path_specs.PATHS + ('elsewhere',):
        (tmp_path / path).mkdir()
        (tmp_path / path / 'acks-1.jsonl').write_text('x')
    clear_previous(str(tmp_path), path_specs.PATHS)  # every declared path's directory, nothing else
    assert sorted(p.name for p in tmp_path.iterdir()) == ['elsewhere', 'notes.txt']
