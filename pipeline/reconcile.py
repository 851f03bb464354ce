"""Reconciles one path of a run by record_id: sent, acknowledged, dead-lettered, landed, missing, duplicates."""

import collections


def reconcile_path(sent, acks, dead_letters, landed_rows=None, acks_derived=False):
    """Pure reconciliation of one path.

    sent: records the path was handed; acks / dead_letters: the run record's entries; landed_rows: rows found in
    BigQuery for these ids (None when the landed check was skipped). acks_derived: the path has no per-record
    acknowledgement (WriteToBigQuery reports only failures), so acked = sent - dead-lettered.
    """
    sent_ids = {r['record_id'] for r in sent if r.get('record_id')}
    dead_ids = {d['record_id'] for d in dead_letters if d.get('record_id') in sent_ids}
    if acks_derived:
        acked_ids = sent_ids - dead_ids
    else:
        acked_ids = {a['record_id'] for a in acks if a.get('record_id') in sent_ids}
    ack_counts = collections.Counter(a.get('record_id') for a in acks)
    reasons = collections.Counter(d.get('reason', 'unknown') for d in dead_letters if d.get('record_id') in dead_ids)
    result = {
        'sent': len(sent_ids),
        'acked': len(acked_ids),
        'acked_twice': sum(1 for n in ack_counts.values() if n > 1),
        'dead_lettered': len(dead_ids),
        'dead_lettered_by_reason': dict(sorted(reasons.items())),
        'acked_is_derived': acks_derived,
    }
    if landed_rows is None:
        unaccounted = sorted(sent_ids - acked_ids - dead_ids)
        result.update(landed=None, missing=len(unaccounted), missing_ids=unaccounted, duplicates=None,
                      landed_check='skipped')
        return result
    row_counts = collections.Counter(r.get('record_id') for r in landed_rows if r.get('record_id') in sent_ids)
    landed_ids = set(row_counts)
    missing = sorted(sent_ids - landed_ids - dead_ids)
    result.update(
        landed=len(landed_ids),
        missing=len(missing),
        missing_ids=missing,
        duplicates=sum(n - 1 for n in row_counts.values()),
        landed_but_dead_lettered=len(landed_ids & dead_ids),
        landed_check='done',
    )
    return result
