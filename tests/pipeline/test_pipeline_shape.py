"""The assembled graph for each kind of source (built, not run): where records are spread before the OIC branch."""

import pytest

from launcher.run import parse
from pipeline.build import build_pipeline

STACK = ['--oic_url', 'http://127.0.0.1:1/ic/api/integration/v1/flows/rest/WAREHOUSE_STREAM/1.0/records',
         '--oic_username', 'u', '--paths', 'oic', '--oic_table', 'my-proj:warehouse.inventory_oic', '--skip_preflight']
ENV = {'OIC_PASSWORD': 'hunter2'}


def _step_names(argv, tmp_path):
    options, config = parse(STACK + ['--out', str(tmp_path)] + argv, ENV)
    pipeline = build_pipeline(options, config)
    return {t.unique_name for t in pipeline.to_runner_api().components.transforms.values()}


@pytest.mark.parametrize('argv, spread', [
    (['--records', '50'], True),  # Unpaced batch: spread so that every worker process posts.
    (['--records', '50', '--rate', '5'], False),  # Paced: a reshuffle would turn the pace into one burst.
    (['--streaming', '--rate', '5'], False),  # The streaming source's shards are spread already.
])
def test_records_are_spread_before_oic_only_for_an_unpaced_batch(argv, spread, tmp_path):
    assert ('SpreadForOIC' in _step_names(argv, tmp_path)) == spread
