"""The run record's header (run.json) as a typed contract: written by the launcher, read back by the comparison, the
sweep and billing as attributes, so a renamed field is a type error, not a missing key at run time.

On disk it keeps its flat keys (`oic_payload`, `<path>_table`, ...): `to_json` and `from_json` are the one place that
spells them. Pure (no Beam); also home of the facts the run's readers share (`check_at_rate`).
"""

import dataclasses
import math
from typing import Any, Dict, Mapping, Optional, Tuple

TABLE_SUFFIX = '_table'  # run.json's '<path>_table' keys
OIC_PREFIX = 'oic_'  # run.json's keys of the OIC path's settings


def check_at_rate(value: Optional[float]) -> Optional[float]:
    """`value` when it is None or a positive, finite records/s; ValueError (one line, naming --at_rate) otherwise."""
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise ValueError('--at_rate must be a positive number of records per second (got %g)' % value)
    return value


@dataclasses.dataclass(frozen=True)
class OICRunInfo:
    """The OIC path's settings as the run recorded them (no secret: where the workers read each from)."""
    url: Optional[str] = None  # redacted
    username: Optional[str] = None
    password_secret: Optional[str] = None
    payload: str = 'extended'
    connect_timeout: Optional[float] = None
    read_timeout: Optional[float] = None
    max_attempts: Optional[int] = None
    deadline: Optional[float] = None
    allow_insecure_http: bool = False
    rate_limiter: Optional[str] = None
    rate_limit_domain: Optional[str] = None
    auth: str = 'basic'
    token_url: Optional[str] = None  # redacted
    client_id: Optional[str] = None
    scope: Optional[str] = None
    client_secret_secret: Optional[str] = None
    ca_bundle: Optional[str] = None
    spread: str = 'none'
    batch_kb: float = 0.0
    batch_wait: float = 1.0
    batch_url: Optional[str] = None
    streaming: bool = False
    instance: Optional[str] = None
    monitoring_auth: str = 'oauth'
    concurrency: Optional[int] = None
    concurrency_mode: Optional[str] = None
    max_rps: Optional[float] = None
    share_per_vcpu: bool = False
    posting_keys: Optional[int] = None
    posting_processes: Optional[int] = None  # known at launch unless each VM's processes are counted on the worker
    process_concurrency: Optional[int] = None
    process_max_rps: Optional[float] = None

    @property
    def trigger_url(self) -> Optional[str]:
        """The URL the run posted to: the batch trigger's when it batched, else the per-record trigger's."""
        return self.batch_url if self.batch_kb else self.url


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a run was asked to do and how it ended (run.json)."""
    run_id: str = ''
    runner: str = 'DirectRunner'
    paths: Tuple[str, ...] = ()
    out: str = ''
    workers: int = 1
    streaming: bool = False
    records: Optional[int] = None
    rate: float = 0.0
    seed: Optional[int] = None
    input: Optional[str] = None
    source_shards: Optional[int] = None
    tables: Mapping[str, Optional[str]] = dataclasses.field(default_factory=dict)  # path -> its table, as text
    dead_letter_table: Optional[str] = None
    emulator_host: Optional[str] = None
    direct_method: Optional[str] = None
    landed_check: bool = True
    probe_interval: Optional[float] = None
    at_rate: Optional[float] = None
    run_record_dataset: Optional[str] = None
    drain_timeout: Optional[float] = None
    oic: Optional[OICRunInfo] = None  # None when the OIC path did not run
    # How it went (the launcher fills these in as the run proceeds).
    started_at: Optional[str] = None
    state: Optional[str] = None
    finished_at: Optional[str] = None
    wall_s: Optional[float] = None
    metrics: Optional[Mapping[str, Any]] = None  # the pipeline's Beam metrics, by name
    stopped_by: Optional[str] = None
    drain: Optional[Mapping[str, Any]] = None

    def table(self, path: str) -> Optional[str]:
        """The table `path` wrote to, or None."""
        return self.tables.get(path)

    @property
    def oic_payload(self) -> str:
        """The OIC path's payload shape ('extended' when it did not run)."""
        return self.oic.payload if self.oic else 'extended'

    @property
    def oic_batch_kb(self) -> float:
        """The OIC path's --oic_batch_kb (0: one record per request, or no OIC path)."""
        return self.oic.batch_kb if self.oic else 0.0

    def to_json(self) -> Dict[str, Any]:
        """The flat dict run.json holds (its keys as before issue 31)."""
        data: Dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == 'tables':
                data.update({path + TABLE_SUFFIX: table for path, table in value.items()})
            elif field.name == 'oic':
                if value is not None:
                    data.update({OIC_PREFIX + key: item for key, item in dataclasses.asdict(value).items()})
            elif field.name == 'paths':
                data['paths'] = list(value)
            elif value is not None or field.name in _ALWAYS_WRITTEN:
                data[field.name] = dict(value) if isinstance(value, Mapping) else value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> 'RunInfo':
        """The record of a run.json dict; keys it does not know are ignored, missing ones take their defaults."""
        names = {field.name for field in dataclasses.fields(cls)} - {'tables', 'oic', 'paths'}
        kwargs: Dict[str, Any] = {name: data[name] for name in names if name in data}
        paths = tuple(data.get('paths') or ())
        kwargs['paths'] = paths
        kwargs['tables'] = {key[:-len(TABLE_SUFFIX)]: value for key, value in data.items()
                            if key.endswith(TABLE_SUFFIX) and key != 'dead_letter' + TABLE_SUFFIX}
        oic_names = {field.name for field in dataclasses.fields(OICRunInfo)}
        oic = {key[len(OIC_PREFIX):]: value for key, value in data.items()
               if key.startswith(OIC_PREFIX) and key[len(OIC_PREFIX):] in oic_names}
        if oic or 'oic' in paths:
            kwargs['oic'] = OICRunInfo(**oic)
        return cls(**kwargs)


# Written even when None, as before (a reader sees "not given", not "not recorded").
_ALWAYS_WRITTEN = frozenset({'records', 'input', 'emulator_host', 'at_rate', 'run_record_dataset', 'seed',
                             'dead_letter_table', 'direct_method', 'probe_interval', 'drain_timeout', 'source_shards'})
