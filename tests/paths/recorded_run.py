"""A run's record on disk without running it: run.json and each path's sent records, as the pipeline writes them,
for tests that build a report from a recorded run (no pipeline, no BigQuery)."""

import json

from transforms import records as rec
from transforms.run_record import files as run_record
from transforms.run_record.run_info import RunInfo


def write_lines(out, kind, items):
    target = out / (kind + '-0.jsonl')  # run_record.record_file_pattern
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(''.join(json.dumps(item) + '\n' for item in items))


def recorded_run(tmp_path, run_id, paths, seed, count=6):
    """(out, sent): a DONE run at 2 records/s over `paths`, each of which sent the same `count` records."""
    out = tmp_path / 'out'
    out.mkdir()
    sent = [rec.make_record(seed, run_id, i) for i in range(count)]
    run_record.write_run(str(out), RunInfo(run_id=run_id, paths=tuple(paths), state='DONE', landed_check=False,
                                           rate=2.0, started_at=sent[0]['event_time'],
                                           finished_at=sent[-1]['event_time']))
    for path in paths:
        write_lines(out, run_record.sent_kind(path), sent)
    return out, sent
