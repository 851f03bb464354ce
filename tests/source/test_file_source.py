"""File replay and validation on DirectRunner: good rows flow on, every bad row leaves with its reason."""

import json
import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.source.replay import ReadRecordFile, parse_csv_lines, parse_json_lines
from transforms.validate import ValidateRecords

SEED_CSV = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'data', 'poultry.csv')
MIXED = (b'WH_ID,Item_Name,Item_id,Quantity_Available,Quantity_Requested,Backlog\n'
         b'WH8,Mechanically Separated,100,3365,3615,-250\n'
         b'WH5,"Shelf-Stable, Pathogen Negative Meat Slurry",104,8489,8085,0\n'
         b'WH1,Chicken Meal,abc,10,5,0\n'
         b'WH2,Poultry Fat,105,-4,5,0\n'
         b',Poultry Fat,105,4,5,0\n'
         b'WH3,Chicken Fat,106,1,2\n'
         b'WH6,Chicken Fat \xff,106,1,2,0\n')


def lines(data):
    return enumerate(data.splitlines(), start=1)


def test_csv_parsing_keeps_quoted_commas_and_flags_broken_lines():
    parsed = list(parse_csv_lines(lines(MIXED), 'm.csv'))
    assert parsed[1]['Item_Name'] == 'Shelf-Stable, Pathogen Negative Meat Slurry'
    broken = {p['_source']: p['_errors'] for p in parsed if '_errors' in p}
    assert broken == {'m.csv:7': ['expected 6 columns, found 5'], 'm.csv:8': ['line is not valid UTF-8 (byte 16)']}


def test_json_lines_parsing():
    data = b'{"WH_ID": "WH1"}\nnot json\n[1]\n'
    parsed = list(parse_json_lines(lines(data), 'x.jsonl'))
    assert parsed[0]['WH_ID'] == 'WH1'
    assert parsed[1]['_errors'][0].startswith('not valid JSON')
    assert parsed[2]['_errors'] == ['a JSON line must be an object']


def test_replay_splits_good_and_bad_rows(tmp_path):
    path = tmp_path / 'mixed.csv'
    path.write_bytes(MIXED)
    with TestPipeline() as p:
        checked = p | ReadRecordFile(str(path), 'run-1') | ValidateRecords()
        assert_that(checked.valid | 'Ids' >> beam.Map(lambda r: (r['WH_ID'], r['Item_id'], r['Backlog'])),
                    equal_to([('WH8', 100, -250), ('WH5', 104, 0)]), label='good')
        assert_that(checked.invalid | 'Reasons' >> beam.Map(lambda d: (d['source'], d['errors'][0].split(':')[0])),
                    equal_to([('mixed.csv:4', 'Item_id is not an integer'),
                              ('mixed.csv:5', 'Quantity_Available is negative'),
                              ('mixed.csv:6', 'WH_ID is empty'),
                              ('mixed.csv:7', 'expected 6 columns, found 5'),
                              ('mixed.csv:8', 'line is not valid UTF-8 (byte 16)')]), label='bad')


def test_the_labs_sample_replays_entirely_valid():
    with TestPipeline() as p:
        checked = p | ReadRecordFile(SEED_CSV, 'run-2') | ValidateRecords()
        assert_that(checked.valid | beam.combiners.Count.Globally(), equal_to([40]), label='valid')
        assert_that(checked.invalid | 'n' >> beam.combiners.Count.Globally(), equal_to([0]), label='invalid')


def test_invalid_letter_keeps_the_original_line(tmp_path):
    path = tmp_path / 'bad.jsonl'
    path.write_text(json.dumps({'WH_ID': 'WH1', 'Item_Name': 'x', 'Item_id': 1, 'Quantity_Available': -1,
                                'Quantity_Requested': 0, 'Backlog': 0}) + '\n')
    with TestPipeline() as p:
        checked = p | ReadRecordFile(str(path), 'run-3') | ValidateRecords()
        assert_that(checked.invalid | beam.Map(lambda d: (d['line'].startswith('{'), d['record']['WH_ID'])),
                    equal_to([(True, 'WH1')]))
