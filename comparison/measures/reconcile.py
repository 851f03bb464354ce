"""Reconciles one path of a run by record_id: sent, acknowledged, dead-lettered, landed, missing, duplicates, values."""

import collections
import datetime
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from transforms import records as rec

MISMATCH_EXAMPLES = 50


def canonical(field: str, value: Any) -> Any:
    """`value` as BigQuery holds a `field` of the contract: INT64 fields as int (the OIC mapping sends some as
    strings, which BigQuery coerces), TIMESTAMP as an aware UTC datetime, STRING as str; None stays None."""
    if value is None:
        return None
    kind = rec.BIGQUERY_TYPES.get(field, 'STRING')
    try:
        if kind == 'INT64':
            return int(str(value).strip()) if not isinstance(value, bool) else value
        if kind == 'TIMESTAMP':
            if isinstance(value, datetime.datetime):
                moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
                return moment.astimezone(datetime.timezone.utc)
            return rec.parse_timestamp(str(value))
    except ValueError:
        return value
    return str(value)


def _shown(value):
    if isinstance(value, datetime.datetime):
        return rec.format_timestamp(value)
    return value


def value_mismatches(sent: Iterable[dict], landed_rows: Iterable[dict],
                     fields: Sequence[str] = rec.FIELDS) -> Tuple[Dict[str, int], List[str], List[dict]]:
    """Field-by-field differences between what was sent and the rows that landed, compared as BigQuery types.

    Returns (by_field {field: rows}, mismatched_ids, examples [{record_id, field, sent, landed}]). A field the
    row does not carry at all (e.g. the seed payload has no record_id) is not compared.
    """
    by_id = {r['record_id']: r for r in sent if r.get('record_id')}
    by_field: collections.Counter = collections.Counter()
    ids = set()
    examples: list = []
    for row in landed_rows:
        original = by_id.get(row.get('record_id'))
        if original is None:
            continue
        for field in fields:
            if field not in row or field not in original:
                continue
            want, got = canonical(field, original[field]), canonical(field, row[field])
            if want != got:
                by_field[field] += 1
                ids.add(row['record_id'])
                examples.append({'record_id': row['record_id'], 'field': field,
                                 'sent': _shown(want), 'landed': _shown(got)})
    # The first examples by id and field order, whatever order the rows came in (as the SQL reconciliation lists them).
    examples.sort(key=lambda e: (e['record_id'], fields.index(e['field'])))
    return dict(sorted(by_field.items())), sorted(ids), examples[:MISMATCH_EXAMPLES]


def reconcile_path(sent: Sequence[dict], acks: Sequence[dict], dead_letters: Sequence[dict],
                   landed_rows: Optional[Sequence[dict]] = None, acks_derived: bool = False) -> dict:
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
    # Handed to the path and never settled: what a cancelled run had in flight (0 after a completed or drained run).
    # A path without acknowledgements knows this only from BigQuery (the missing rows, below).
    if not acks_derived:
        in_flight = sorted(sent_ids - acked_ids - dead_ids)
        result.update(in_flight=len(in_flight), in_flight_ids=in_flight)
    if landed_rows is None:
        unaccounted = sorted(sent_ids - acked_ids - dead_ids)
        result.update(landed=None, missing=len(unaccounted), missing_ids=unaccounted, duplicates=None,
                      mismatched=None, mismatched_by_field={}, mismatched_ids=[], mismatch_examples=[],
                      landed_check='skipped')
        return result
    row_counts = collections.Counter(r.get('record_id') for r in landed_rows if r.get('record_id') in sent_ids)
    landed_ids = set(row_counts)
    missing = sorted(sent_ids - landed_ids - dead_ids)
    by_field, mismatched_ids, examples = value_mismatches(sent, landed_rows)
    if acks_derived:
        result.update(in_flight=len(missing), in_flight_ids=missing)
    result.update(
        landed=len(landed_ids),
        missing=len(missing),
        missing_ids=missing,
        duplicates=sum(n - 1 for n in row_counts.values()),
        landed_but_dead_lettered=len(landed_ids & dead_ids),
        mismatched=len(mismatched_ids),
        mismatched_by_field=by_field,
        mismatched_ids=mismatched_ids,
        mismatch_examples=examples,
        landed_check='done',
    )
    return result
