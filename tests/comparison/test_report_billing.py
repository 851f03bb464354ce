"""OIC billing messages, the batched price, the three-way check in records and the sender's requirements: pure
functions on literal data, and a whole report built offline from a literal run record."""

import json
import os

import pytest

from comparison import paths
from comparison.cost import billing
from comparison.cost import curves
from comparison.cost import price_table
from comparison.cost import sizing
from comparison.cost import sender_requirements
from comparison.measures import monitoring
from comparison.render import html_page
from comparison.render import terminal
from comparison.report import build_report
from transforms import records as rec

from round_prices import PRICES, path_cost, seed_curves  # tests/comparison/round_prices.py
from transforms.run_record.run_info import RunInfo

KB50 = 50 * 1024


# -- messages: one per started 50 KB of a request body


def test_a_message_per_started_50kb_of_a_request():
    assert [sizing.messages_per_request(b, PRICES) for b in (0, 1, 240, KB50 - 1, KB50, KB50 + 1, 2 * KB50,
                                                             2 * KB50 + 1)] == [1, 1, 1, 1, 1, 2, 2, 3]


def test_records_alone_each_count_a_message_and_a_batch_counts_per_50kb_of_its_body():
    sizes = {'a': 240, 'b': KB50, 'c': KB50 + 1}
    alone = billing.summarise(billing.requests_of(
        [{'record_id': k, 'attempts': 1} for k in sizes], sizes), PRICES)
    assert (alone['requests'], alone['messages'], alone['records_per_request'], alone['records_per_message']) == \
        (3, 4, 1.0, 0.75)
    assert alone['basis'].startswith('one request per record')
    # 200 records of 250 B in one request: 26 + 3 (the count) + 200 × 250 + 199 × 2 = 50,427 B, one message.
    ids = {'r%d' % i: 250 for i in range(200)}
    batch = billing.summarise(billing.requests_of(
        [{'record_id': k, 'batch_id': 'q1', 'attempts': 1} for k in ids], ids), PRICES)
    assert (batch['requests'], batch['request_bytes_max'], batch['messages'], batch['records_per_message']) == \
        (1, 50427, 1, 200.0)
    assert batch['basis'].startswith('batch_id on the acknowledgements')


def test_request_bytes_on_the_acks_win_and_retries_count_again():
    acks = [{'record_id': 'a', 'batch_id': 'q1', 'batch_bytes': KB50 + 10, 'attempts': 2},
            {'record_id': 'b', 'batch_id': 'q1', 'batch_bytes': KB50 + 10, 'attempts': 2},
            {'record_id': 'c', 'batch_id': 'q2', 'attempts': 1},
            {'record_id': 'c', 'batch_id': 'q2', 'attempts': 1}]  # acknowledged twice: counted once
    found = billing.summarise(billing.requests_of(acks, {'a': 100, 'b': 100, 'c': 100}), PRICES)
    assert (found['records'], found['requests'], found['messages'], found['messages_with_retries']) == (3, 2, 3, 5)
    assert found['request_attempts'] == 3 and found['records_per_request'] == 1.5


def test_the_oic_billing_of_a_run_sizes_each_record_as_the_caller_posts_it():
    sent = [rec.make_record(1, 'run', i) for i in range(3)]
    acks = [{'record_id': r['record_id'], 'attempts': 1} for r in sent[:2]]
    dead = [{'record_id': sent[2]['record_id'], 'attempts': 3}]
    found = billing.oic_billing(sent, acks, dead, 'extended', PRICES)
    bodies = [len(json.dumps(rec.oic_payload(r)).encode('utf-8')) for r in sent]
    assert found['request_bytes_max'] == max(bodies) and found['record_bytes_mean'] == round(sum(bodies) / 3, 1)
    assert (found['requests'], found['messages'], found['messages_with_retries']) == (3, 3, 5)
    counts = billing.per_record_billing(3, 5, 240.0, PRICES)
    assert (counts['requests'], counts['messages'], counts['messages_with_retries'], counts['records_per_message']) \
        == (3, 3, 5, 1.0)


def test_the_stand_ins_count_is_a_cross_check_only_for_a_local_oic():
    assert billing.is_loopback('http://127.0.0.1:8088/x') and billing.is_loopback('https://localhost/x')
    assert not billing.is_loopback('https://abc.integration.ocp.oraclecloud.com/ic/api')
    assert billing.read_stand_in_stats(RunInfo.from_json({'oic_url': 'https://oic.example.com/x'}), 'pw')['check'].startswith('skipped')
    ours = {'request_attempts': 7, 'messages_with_retries': 7}
    today = billing.cross_check(ours, {'check': 'done', 'stats': {'requests': 7}})
    assert today['requests_agree'] and today['stand_in_messages'] is None and today['messages_agree'] is None
    batched = billing.cross_check(ours, {'check': 'done', 'stats': {
        'requests': 0, 'billing': {'requests': 7, 'bytes': 9000, 'messages': 6}}})
    assert batched['stand_in_requests'] == 7 and batched['requests_agree'] and batched['messages_agree'] is False


# -- the batched shape and its price


def test_records_per_batch_keep_the_envelope_and_never_split_a_record():
    # 50 KB: (51,200 − 24) ÷ (240 + 2) = 211.5 → 211 records; body 26 + 3 + 211 × 240 + 210 × 2 = 51,089 B.
    shape = sizing.batch_shape(240, PRICES)
    assert (shape['batch_kb'], shape['records_per_request'], shape['request_bytes'], shape['messages_per_request']) \
        == (50.0, 211, 51089, 1)
    assert sizing.batch_body_bytes([240] * 211) == 51089 <= KB50 < sizing.batch_body_bytes([240] * 212)
    assert sizing.records_per_batch(KB50, 50) == 1 and sizing.records_per_batch(KB50 * 3, 50) == 1
    assert sizing.batch_shape(240, PRICES, batch_kb=100)['messages_per_request'] == 2


def test_the_batched_columns_price_fewer_messages_and_fewer_requests_in_flight():
    # 100 records/s of 240 B. One per request: 360,000 messages/h → 72 packs; in flight 100 × 1 s = 100 → 1.
    point = curves.cost_point(100.0, seed_curves(100, 240, PRICES, response_s=1.0))
    bq = round(100 * 3600 * 730 * 1024 / (200 * 2 ** 20) * 0.01, 2)  # the same streaming inserts ($12.83) on every OIC column
    assert (point['oic_packs'], point['oic_usd_per_month']) == (72, round(72 * 730 + bq, 4))
    # Batched: 211 a request → 100 ÷ 211 requests/s × 3600 = 1,706.2 messages/h → 1 pack; BYOL 1 pack at $0.5.
    assert (point['oic_batch_kb'], point['oic_batched_records_per_request'], point['oic_batched_packs']) == (50.0, 211, 1)
    assert point['oic_batched_usd_per_month'] == round(730 + bq, 4)
    assert point['oic_batched_byol_usd_per_month'] == round(0.5 * 730 + bq, 4)
    # Concurrency sizing drops too: 10,000 records/s answered in 30 s is 300,000 in flight one by one (3,000 packs),
    # 10,000 ÷ 211 × 30 = 1,421.8 batched requests in flight → 15 packs; messages 170,616/h → 35 packs.
    size = sizing.oic_sizing(10000.0, 51075, PRICES, response_s=30.0, records_per_request=211)
    assert (size['packs_for_concurrency'], size['packs_for_messages'], size['packs'], size['instances']) == \
        (15, 35, 35, 1)
    assert sizing.oic_sizing(10000.0, 240, PRICES, response_s=30.0)['packs_for_concurrency'] == 3000


def test_path_cost_carries_the_batched_price_and_its_formula():
    cost = path_cost('oic', 100.0, 100, 240, PRICES, response_s=1.0)
    batched = cost['batched']
    assert (batched['records_per_request'], batched['packs'], batched['byol_packs']) == (211, 1, 1)
    inserts = cost['items'][1]['usd']
    assert batched['usd_per_month'] == round(730 + inserts, 2) and batched['byol_usd_per_month'] == round(365 + inserts, 2)
    assert '÷ 211 rows per request' in batched['formula'] and 'body 51089 B' in batched['formula']
    assert cost['usd_per_month'] == round(72 * 730 + inserts, 2)  # the run's own shape: one record per request
    # A batched run is priced in its own shape: 150 records in bodies of 36,000 B.
    own = path_cost('oic', 100.0, 100, 240, PRICES, response_s=1.0, records_per_request=150,
                            request_bytes=36000)
    assert own['items'][0]['packs'] == 1 and own['items'][0]['records_per_request'] == 150
    assert 'batched' not in path_cost('direct', 1.0, 100, 240, PRICES)


# -- the three-way check counts records


def instance(status, record_id=None, records=None):
    item = {'status': status, 'trackings': []}
    if record_id:
        item['trackings'].append({'name': 'record_id', 'value': record_id})
    if records is not None:  # The batch integration's tracking value mapped to its batch size (docs/oic-batching.md).
        item['trackings'].append({'name': 'records', 'value': str(records)})
    return item


def test_the_three_way_check_counts_the_records_of_a_batch_instance():
    summary = monitoring.summarise_instances([instance('COMPLETED', records=150), instance('COMPLETED', records=50),
                                              instance('FAILED', records=3)], {'a'})
    assert (summary['instances'], summary['completed'], summary['records_in_completed']) == (3, 2, 200)
    check = monitoring.three_way(200, 0, 200, summary)
    assert check['agree'] and check['counts'] == 'records' and check['oic_completed'] == 200
    assert check['failed_check'] == 'dead letters <= failed records'
    assert not monitoring.three_way(2, 0, 2, summary)['agree']  # two instances are not two records
    # Batch instances beside record-tracking ones: each tracked record once, each batch by its records.
    mixed = monitoring.summarise_instances([instance('COMPLETED', 'a'), instance('COMPLETED', 'a'),
                                            instance('COMPLETED', records=10)], {'a'})
    assert mixed['records_completed'] == 11 and mixed['scoped_by'].startswith('record_id, and batch')


def test_one_record_per_instance_still_checks_as_before():
    summary = monitoring.summarise_instances([instance('COMPLETED'), instance('COMPLETED'), instance('FAILED')], set())
    assert summary['records_in_completed'] == 2 and summary['batch_instances'] == 0
    assert monitoring.three_way(2, 1, 2, summary)['agree'] and not monitoring.three_way(2, 0, 2, summary)['agree']


# -- what each path asks of the sender


def test_every_sender_requirement_has_text_and_known_sources():
    table = sender_requirements.load()
    assert paths.stated(['direct']) == ['direct', 'oic']  # the run's paths first, and always both sides
    section = sender_requirements.for_report(paths.stated(['direct']), table)
    assert list(section['paths']) == ['direct', 'oic']
    for aspects in section['paths'].values():
        for aspect in section['aspects']:
            assert aspects[aspect]['short'] and aspects[aspect]['text']
            assert set(aspects[aspect]['sources']) <= set(section['sources'])
    assert 'ServiceInvoker' in section['paths']['oic']['roles']['text']
    assert 'roles/bigquery.dataEditor' in section['paths']['direct']['roles']['text']
    assert sender_requirements.lines(section)[0].startswith('What each path asks of the sender')
    with pytest.raises(sender_requirements.RequirementsError):
        broken = json.loads(json.dumps(table))
        broken['paths']['oic']['roles']['sources'] = ['nowhere']
        sender_requirements.check(broken)


# -- a whole report from a literal run record, offline


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / 'out'
    (out / 'oic').mkdir(parents=True)
    (out / 'direct').mkdir()
    sent = [rec.make_record(3, 'run-b', i) for i in range(4)]
    run = {'run_id': 'run-b', 'paths': ['oic', 'direct'], 'state': 'DONE', 'landed_check': False, 'rate': 0,
           'started_at': sent[0]['event_time'], 'finished_at': sent[-1]['event_time'], 'oic_payload': 'extended'}
    (out / 'run.json').write_text(json.dumps(run))
    for path in ('oic', 'direct'):
        (out / path / 'sent-0.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in sent))
    acks = [{'path': 'oic', 'record_id': r['record_id'], 'status': 200, 'attempts': 1, 'latency_ms': 50.0,
             'event_time': r['event_time'], 'ack_time': r['event_time']} for r in sent]
    (out / 'oic' / 'acks-0.jsonl').write_text(''.join(json.dumps(a) + '\n' for a in acks))
    return str(out), sent, acks


def test_a_report_shows_billing_the_batched_columns_and_the_sender_requirements(run_dir):
    out, sent, _ = run_dir
    report = build_report(out, prices=price_table.load_prices(), oic_monitoring=False)
    oic = report['paths']['oic']
    assert (oic['oic_billing']['requests'], oic['oic_billing']['messages'], oic['oic_billing']['records_per_request']) \
        == (4, 4, 1.0)
    per_record = round(sum(len(json.dumps(rec.oic_payload(r)).encode('utf-8')) for r in sent) / 4)
    assert report['cost_at_rate']['payload_bytes'] == per_record and report['cost_at_rate']['oic_batch_kb'] == 50.0
    expected = sizing.batch_shape(per_record, price_table.load_prices())['records_per_request']
    for point in report['cost_curve']:
        assert point['oic_batched_records_per_request'] == expected
        assert point['oic_batched_usd_per_month'] <= point['oic_usd_per_month']
        assert point['oic_batched_byol_usd_per_month'] <= point['oic_batched_usd_per_month']
    assert oic['cost']['batched']['records_per_request'] == expected
    assert set(report['sender_requirements']['paths']) == {'oic', 'direct'}
    table = terminal.format_table(report)
    for text in ('OIC billing (a message per started 50 KB of a request)', 'records per message',
                 'OIC batched / batched BYOL', 'OIC batched', 'batched BYOL', 'What the sender needs',
                 'ServiceInvoker (OIC)', 'google-cloud-bigquery', 'OIC batched = %d records' % expected):
        assert text in table, text
    page = html_page.render_html(report)
    for text in ('id="sender-requirements"', 'ServiceInvoker', 'roles/bigquery.dataEditor', 'OIC batched',
                 'id="oic-billing"'):
        assert text in page, text
    json.dumps(report)  # report.json holds it all


def test_a_batched_runs_acks_price_the_run_in_its_own_shape(run_dir):
    out, sent, acks = run_dir
    for ack in acks:
        ack.update(batch_id='q1', batch_bytes=1200)
    with open(os.path.join(out, 'oic', 'acks-0.jsonl'), 'w', encoding='utf-8') as handle:
        handle.write(''.join(json.dumps(a) + '\n' for a in acks))
    report = build_report(out, prices=price_table.load_prices(), oic_monitoring=False)
    found = report['paths']['oic']['oic_billing']
    assert (found['requests'], found['messages'], found['records_per_request'], found['records_per_message']) == \
        (1, 1, 4.0, 4.0)
    assert found['sizes_from'] == 'batch_bytes on the acknowledgements'
    assert report['paths']['oic']['cost']['items'][0]['records_per_request'] == 4.0
    # One POST carried the 4 records: the report's requests are the requests sent, not one per record.
    assert (report['paths']['oic']['http_requests'], report['paths']['oic']['http_requests_per_row']) == (1, 0.25)
