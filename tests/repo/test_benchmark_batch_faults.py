"""benchmarks/oic_batch_faults.judge on literal data: each check of issue 29's first target holds on a clean run and
fails on the run it is there to catch (an ack that did not land, a row twice, an invalid row that landed, a report
that disagrees)."""

from benchmarks.oic_batch_faults import judge


def ack(i):
    return {'record_id': 'r%d' % i}


def dead(i, reason='invalid'):
    return {'record_id': 'r%d' % i, 'reason': reason}


CLEAN = dict(acks=[ack(0), ack(1), ack(2)], dead=[dead(3)], landed_ids=['r0', 'r1', 'r2'], refused_invalid=1,
             report={'acked': 3, 'landed': 3, 'missing': 0, 'duplicates': 0}, records=4)


def failing(**changes):
    return [name for name, held, _ in judge(**dict(CLEAN, **changes)) if not held]


def test_a_clean_run_passes_every_check():
    assert failing() == []


def test_each_failure_is_caught_by_its_check():
    # r2 acknowledged but never inserted (an HTML page read as success): the report saw it missing.
    assert failing(landed_ids=['r0', 'r1'], report={'acked': 3, 'landed': 2, 'missing': 1, 'duplicates': 0}) == [
        'every valid record in BigQuery exactly once', 'no record acknowledged that is not in BigQuery']
    assert failing(landed_ids=['r0', 'r1', 'r2', 'r2'],
                   report={'acked': 3, 'landed': 3, 'missing': 0, 'duplicates': 1}) == [
        'every valid record in BigQuery exactly once']
    assert failing(landed_ids=['r0', 'r1', 'r2', 'r3'],
                   report={'acked': 3, 'landed': 4, 'missing': 0, 'duplicates': 0}) == [
        'every invalid record dead-lettered invalid, none landed']
    assert failing(refused_invalid=2) == ['every invalid record dead-lettered invalid, none landed']
    assert failing(report={'acked': 3, 'landed': 3, 'missing': 1, 'duplicates': 0}) == [
        'report agrees with what landed']
    assert failing(records=5) == ['every record settled once']
    assert failing(dead=[dead(3), dead(2, 'unreadable_answer')]) == ['every record settled once']
