"""A fixed-seed run's report.json has the structure, counts and prices it had before issue 31 reorganised the code
(tests/paths/fixed_seed_report.json, made by tests/paths/fixed_seed.py from 1724c5e)."""

import json
import os

import pytest

from fixed_seed import GOLDEN, ROOT, run_fixed_seed, stack_flags, summary  # tests/paths/fixed_seed.py

pytestmark = pytest.mark.stack


def test_a_fixed_seed_runs_report_matches_the_golden(clean_stack, tmp_path):
    report = run_fixed_seed(ROOT, dict(os.environ, **clean_stack.env()), str(tmp_path / 'out'),
                            extra=stack_flags(clean_stack))
    with open(GOLDEN, encoding='utf-8') as handle:
        golden = json.load(handle)
    found = json.loads(json.dumps(summary(report), sort_keys=True))
    for part in ('structure', 'path_structure', 'invalid', 'paths', 'priced'):
        assert found[part] == golden[part], part
