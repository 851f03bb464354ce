"""The flags of `python -m pipeline.run`, declared once and Beam-free: each flag's name, value type, default (and the
local stack's environment variable that overrides it), choices and help, group by group.

WarehouseOptions (pipeline/options.py), the launcher's quick check before anything starts (launcher/check_flags.py),
`--help` and docs/flags.md (launcher/flag_reference.py) are all built from GROUPS, so checking a flag or printing the
help needs no Beam import."""

import argparse
import dataclasses
import os
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

from transforms.oic.batch.body import DEFAULT_BATCH_CODE, DEFAULT_WAIT_S as DEFAULT_BATCH_WAIT_S
from transforms.oic.budget import DEFAULT_MODE, DEFAULT_TOTAL, MODES as CONCURRENCY_MODES
from transforms.oic.retry import (
    DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_DEADLINE_S, DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT_S)
from pipeline.path_specs import DEFAULT_PATHS, PATHS, SPECS as PATH_SPECS  # each path's declaration
from transforms.source.defaults import DEFAULT_RECORDS, DEFAULT_SHARDS, DEFAULT_STREAMING_RATE

# --storage_write_wait: half the writer's own default (1 s), measured on a three-path stream at 100 records/s:
# p99 event -> queryable 1.83 s against 2.62 s with 1 s (docs/storage-write.md, "Streams").
DEFAULT_STORAGE_WRITE_WAIT_S = 0.5
DEFAULT_DRAIN_TIMEOUT_S = 30.0  # --drain_timeout: seconds the records in flight get after the first Ctrl-C.
PROG = 'python -m pipeline.run'
DESCRIPTION = 'validate flags, run both branches, print the comparison.'
EPILOG = ('The local stack (./run_local.sh up) writes .local/stack.env; `set -a; source .local/stack.env` makes every '
          'default point at it. Ctrl-C or SIGTERM drains a local run (the source stops, what is in flight finishes '
          'within --drain_timeout, then the comparison); a second one cancels at once. Exit codes: 0 the pipeline '
          'completed (whatever was dead-lettered), 1 it failed, 2 a usage or configuration error, or OIC/the '
          'BigQuery emulator cannot be reached, 130 stopped by Ctrl-C, 143 stopped by SIGTERM.')
HELP_BEAM = '--help_beam'
BEAM_FLAGS_NOTE = ('Every standard Beam option is accepted beside these (--runner, --project, --region, '
                   '--temp_location, --streaming, --max_num_workers, --dry_run, ...): `%s %s` lists them all.'
                   % (PROG, HELP_BEAM))
# The flags' values as attributes named as the flags: WarehouseOptions (Beam's view), or the argparse Namespace that
# add_flags' parser returns (launcher/check_flags.py, before Beam is imported). The rules (pipeline/rules/) read both.
FlagValues = Any


@dataclasses.dataclass(frozen=True)
class Flag:
    """One flag: --name, its value type (None = text), default, the environment variable whose non-empty value
    replaces the default (the local stack's stack.env), choices, help; switch = takes no value."""
    name: str
    help: str
    type: Optional[Callable[[str], Any]] = None
    default: Any = None
    env: Optional[str] = None
    choices: Optional[Tuple[str, ...]] = None
    switch: bool = False

    def default_in(self, environ: Mapping[str, str]) -> Any:
        """The default this flag has with these environment variables."""
        value = environ.get(self.env) if self.env else None
        return value if value not in (None, '') else self.default

    def add_to(self, group: Any, environ: Mapping[str, str]) -> None:
        """Adds this flag to an argparse parser or argument group (Beam's parser is one too)."""
        if self.switch:
            group.add_argument('--' + self.name, action='store_true', default=bool(self.default), help=self.help)
            return
        kwargs: dict = {'default': self.default_in(environ), 'help': self.help}
        if self.type is not None:
            kwargs['type'] = self.type
        if self.choices is not None:
            kwargs['choices'] = self.choices
        group.add_argument('--' + self.name, **kwargs)


@dataclasses.dataclass(frozen=True)
class Group:
    """Flags shown together under a title in --help and docs/flags.md."""
    title: str
    flags: Tuple[Flag, ...]


GROUPS = (
    Group('source', (
        Flag(
            'records', type=int,
            help='How many synthetic records to generate (default %d in batch; unbounded with --streaming '
                 'unless given).' % DEFAULT_RECORDS),
        Flag(
            'input',
            help='Replay a file instead of generating: CSV in the seed\'s format (header WH_ID,Item_Name,Item_id,'
                 'Quantity_Available,Quantity_Requested,Backlog) or JSON lines (.jsonl).'),
        Flag(
            'rate', type=float,
            help='Records per second the source emits; 0 = as fast as possible (default 0 in batch, %g with '
                 '--streaming).' % DEFAULT_STREAMING_RATE),
        Flag(
            'seed', type=int,
            help='Seed for the synthetic generator: the same seed gives the same record values (record_id and '
                 'event_time are new every run). Default: random.'),
    )),
    Group('paths', (
        Flag(
            'paths', default=','.join(DEFAULT_PATHS),
            help='Comma-separated branches to run, any of %s (default %s).'
                 % (', '.join(PATHS), ','.join(DEFAULT_PATHS))),
        Flag(
            'out', default='out',
            help='Directory for the run record (sent records, acknowledgements, dead letters) and reports '
                 '(default out/).'),
    )),
    Group('the run', (
        Flag(
            'skip_preflight', switch=True,
            help='Do not check before the run that OIC (and the BigQuery emulator) can be reached from this machine '
                 '(resolve, connect, TLS handshake; nothing is posted). Unreachable = one line, exit 2 on a local '
                 'run; a warning only for Dataflow, whose workers may sit on another network.'),
        Flag(
            'drain_timeout', type=float, default=DEFAULT_DRAIN_TIMEOUT_S,
            help='After the first Ctrl-C or SIGTERM the source stops and records already handed to a path get this '
                 'many seconds to be acknowledged or dead-lettered before the run is cancelled (default %g); a '
                 'second Ctrl-C cancels at once.' % DEFAULT_DRAIN_TIMEOUT_S),
    )),
    Group('comparison', (
        Flag(
            'at_rate', type=float,
            help='Sustained records per second the report prices each path at (cost per month, and the stated '
                 'rate on the cost curves). Default: the offered --rate of a paced or streaming run; for an '
                 'unpaced batch the lab\'s 1 record/s, never the burst rate.'),
    )),
    Group('OIC branch', (
        Flag(
            'oic_url', env='OIC_URL',
            help='OIC REST trigger URL, e.g. https://HOST/ic/api/integration/v1/flows/rest/CODE/1.0/records '
                 '(env OIC_URL).'),
        Flag(
            'oic_username', env='OIC_USERNAME',
            help='OIC Basic Auth user (env OIC_USERNAME). The password is never a flag: it comes from the '
                 'OIC_PASSWORD environment variable or from --oic_password_secret.'),
        Flag(
            'oic_password_secret', env='OIC_PASSWORD_SECRET',
            help='Secret Manager version holding the OIC password, projects/P/secrets/S/versions/V; read by '
                 'the workers at start-up (env OIC_PASSWORD_SECRET).'),
        Flag(
            'oic_auth', default='basic', choices=('basic', 'oauth'),
            help='How the caller authenticates to the trigger: basic = Basic Auth with --oic_username and the '
                 'password (default); oauth = OAuth 2.0 client credentials of a confidential app of the identity '
                 'domain (--oic_token_url, --oic_client_id, --oic_scope, the client secret), a Bearer token on every '
                 'request.'),
        Flag(
            'oic_token_url', env='OIC_TOKEN_URL',
            help='With --oic_auth oauth: the identity domain\'s token endpoint, https://DOMAIN_HOST/oauth2/v1/token '
                 '(env OIC_TOKEN_URL).'),
        Flag(
            'oic_client_id', env='OIC_CLIENT_ID',
            help='With --oic_auth oauth: the confidential app\'s client id (env OIC_CLIENT_ID). The client secret is '
                 'never a flag: it comes from OIC_CLIENT_SECRET or from --oic_client_secret_secret.'),
        Flag(
            'oic_scope', env='OIC_SCOPE',
            help='With --oic_auth oauth: the scope, the OIC instance\'s audience URL followed by '
                 'urn:opc:resource:consumer::all (env OIC_SCOPE).'),
        Flag(
            'oic_client_secret_secret', env='OIC_CLIENT_SECRET_SECRET',
            help='With --oic_auth oauth: Secret Manager version holding the client secret, '
                 'projects/P/secrets/S/versions/V; read by the workers (needed on Dataflow; env '
                 'OIC_CLIENT_SECRET_SECRET).'),
        Flag(
            'oic_instance', env='OIC_INSTANCE',
            help='The OIC service instance\'s name (its About page\'s Service instance field; env OIC_INSTANCE), sent '
                 'as integrationInstance to the monitoring API, which requires it on OIC 3. Recorded for the '
                 'comparison; the trigger does not need it.'),
        Flag(
            'oic_monitoring_auth', default='oauth', choices=('oauth', 'basic'),
            help='How the comparison reads OIC\'s monitoring API: oauth (default; OIC 3 takes OAuth only on its '
                 'developer APIs) with the --oic_token_url, --oic_client_id and --oic_scope client and the client '
                 'secret, even when the trigger is called with Basic Auth; basic = the run\'s Basic Auth, for '
                 'instances that allow it (Gen2). docs/oic-setup.md.'),
        Flag(
            'oic_ca_bundle', env='OIC_CA_BUNDLE',
            help='PEM file of the CAs whose certificates the caller trusts for https OIC and token URLs (env '
                 'OIC_CA_BUNDLE, else REQUESTS_CA_BUNDLE, else the system\'s trust store). Read at launch and '
                 'shipped with the job. Certificates are always verified; there is no switch to turn that off.'),
        Flag(
            'oic_payload', default='extended', choices=('extended', 'seed'),
            help='Request body: extended = all eight fields (default); seed = exactly the seed\'s six fields.'),
        Flag(
            'oic_concurrency_mode', default=DEFAULT_MODE, choices=CONCURRENCY_MODES,
            help='adaptive (default): each posting process finds how many requests in flight OIC takes from its '
                 'answers (429/503/504, timeouts, latency), up to its share of --oic_concurrency; fixed: exactly '
                 'its share of --oic_concurrency (docs/adaptive-concurrency.md).'),
        Flag(
            'oic_concurrency', type=int,
            help='The most requests in flight for the whole job, in both modes (adaptive: the ceiling the posting '
                 'processes\' limits grow to together, default %d, one OIC message pack; fixed: the requests in '
                 'flight, default %d). Divided among the processes that post: each takes floor(total / posting '
                 'processes), the posting processes being the batch grouping\'s keys, on Dataflow the posting keys '
                 '(about one per VM, never more than the total), locally the worker processes (docs/oic-caller.md). '
                 'Before issue 29 an adaptive value was each worker\'s own ceiling.'
                 % (DEFAULT_TOTAL['adaptive'], DEFAULT_TOTAL['fixed'])),
        Flag(
            'oic_connect_timeout', type=float, default=DEFAULT_CONNECT_TIMEOUT_S,
            help='Seconds to wait for a connection to OIC (default %g).' % DEFAULT_CONNECT_TIMEOUT_S),
        Flag(
            'oic_read_timeout', type=float, default=DEFAULT_READ_TIMEOUT_S,
            help='Seconds to wait for OIC\'s answer to one request (default %g; OIC itself gives up at 300).'
                 % DEFAULT_READ_TIMEOUT_S),
        Flag(
            'oic_max_attempts', type=int, default=DEFAULT_MAX_ATTEMPTS,
            help='Attempts per record, the first included, for retryable outcomes (connection errors, timeouts, '
                 '408, 429, 500, 502, 503, 504); default %d.' % DEFAULT_MAX_ATTEMPTS),
        Flag(
            'oic_deadline', type=float, default=DEFAULT_DEADLINE_S,
            help='Seconds one record may take, retries and waits included, before it is dead-lettered '
                 '(default %g).' % DEFAULT_DEADLINE_S),
        Flag(
            'oic_max_rps', type=float, default=0.0,
            help='Hard cap on requests per second to OIC across the job; each process that posts takes an equal '
                 'share, as with --oic_concurrency (default 0 = no cap; the adaptive throttling on 429/503 applies '
                 'anyway).'),
        Flag(
            'dead_letter_table',
            help='BigQuery table PROJECT:DATASET.TABLE for every dead letter: invalid records and both paths\' '
                 'failures (besides the JSON lines under --out); created if missing.'),
        Flag(
            'allow_insecure_http', switch=True,
            help='Allow Basic Auth, a Bearer token or the OAuth client secret over plain http:// to a host that is not '
                 'loopback (refused by default).'),
    )),
    Group('OIC batching', (
        Flag(
            'oic_batch_kb', type=float, default=0,
            help='Group records into request bodies {"records": [...]} of at most this many KB, posted to the batch '
                 'trigger (--oic_batch_url); a record is never split, one bigger than that goes alone. OIC bills one '
                 'message per started 50 KB, so 50 carries ~200 seed-sized records a message (default 0 = one record '
                 'per request to --oic_url; docs/oic-batching.md). Needs --oic_payload extended: a row\'s insertId is '
                 'its record_id, so a batch sent again cannot land twice.'),
        Flag(
            'oic_batch_wait', type=float, default=DEFAULT_BATCH_WAIT_S,
            help='With --oic_batch_kb in a stream: the longest a record waits for its batch to fill, in seconds of '
                 'event time after its own event time (default %g; must be > 0: 0 would set no timer). A bounded run '
                 'sends what is open when its input ends.' % DEFAULT_BATCH_WAIT_S),
        Flag(
            'oic_batch_url', env='OIC_BATCH_URL',
            help='With --oic_batch_kb: the batch integration\'s REST trigger URL (env OIC_BATCH_URL). Default: '
                 '--oic_url with its flow code replaced by %s (.../flows/rest/%s/1.0/records), the local '
                 'stand-in\'s batch trigger.' % (DEFAULT_BATCH_CODE, DEFAULT_BATCH_CODE)),
    )),
    Group('BigQuery', (
        # Each path's table flag, from its declaration (pipeline/path_specs.py).
        *(Flag(spec.table_flag, env=spec.table.env, default=spec.table.default, help=spec.table.help)
          for spec in PATH_SPECS),
        Flag(
            'storage_write_wait', type=float, default=DEFAULT_STORAGE_WRITE_WAIT_S,
            help='In a stream: the longest a row waits in the storage_write branch for its append, in seconds of '
                 'event time after the earliest row waiting with it (default %g; must be > 0). A bounded run appends '
                 'when its input ends (docs/storage-write.md).' % DEFAULT_STORAGE_WRITE_WAIT_S),
        Flag(
            'bq_project', env='BQ_PROJECT',
            help='Project for BigQuery when a table spec has none (env BQ_PROJECT; else --project).'),
        Flag(
            'bigquery_emulator_host', env='BIGQUERY_EMULATOR_HOST',
            help='A BigQuery emulator\'s REST address with scheme, e.g. http://127.0.0.1:9050 (env '
                 'BIGQUERY_EMULATOR_HOST). Unset = real BigQuery.'),
        Flag(
            'bigquery_emulator_grpc_host', env='BIGQUERY_EMULATOR_GRPC_HOST',
            help='The emulator\'s gRPC address HOST:PORT for the storage_write branch (env '
                 'BIGQUERY_EMULATOR_GRPC_HOST, set by the local stack). Unset = the real Storage Write API with '
                 'application default credentials.'),
        Flag(
            'run_record_dataset', env='RUN_RECORD_DATASET',
            help='BigQuery dataset PROJECT:DATASET (or DATASET with --bq_project) into which the pipeline also '
                 'streams its run record (sent, acks, dead_letters tables, partitioned by day and keyed by run id), '
                 'so that python -m pipeline.compare reconciles inside BigQuery at any scale and on a running stream. '
                 'Recommended on Dataflow; optional locally (env RUN_RECORD_DATASET). The tables are created if '
                 'missing; on BigQuery the dataset must exist.'),
        Flag(
            'no_landed_check', switch=True,
            help='Skip reading BigQuery after the run (the summary then has no landed/missing figures).'),
        Flag(
            'probe_interval', type=float, default=0.5,
            help='Seconds between the polls of both tables that time when rows become queryable during a local run '
                 '(default 0.5; 0 = no probe). On real BigQuery each poll is a query job, billed at least 10 MB.'),
    )),
    Group('Dataflow and scale-out', (
        Flag(
            'direct_method', default='STREAMING_INSERTS',
            choices=('STREAMING_INSERTS', 'STORAGE_WRITE_API', 'FILE_LOADS'),
            help='How the direct branch writes to BigQuery: STREAMING_INSERTS (default; rows refused by BigQuery '
                 'are dead-lettered), STORAGE_WRITE_API (Dataflow; needs Beam\'s Java expansion service) or '
                 'FILE_LOADS (batch only; needs a gs:// --temp_location).'),
        Flag(
            'source_shards', type=int, default=DEFAULT_SHARDS,
            help='Work items each tick of the streaming source fans out to; Dataflow spreads them over its workers '
                 'while the total stays --rate (default %d).' % DEFAULT_SHARDS),
        Flag(
            'oic_rate_limiter',
            help='HOST:PORT of an Envoy rate-limit service that caps requests per second to OIC across the whole '
                 'job: one grant per request, a record or a batch (optional; the limit itself is configured in that '
                 'service).'),
        Flag(
            'oic_rate_limit_domain', default='oic',
            help='Rate-limit domain the --oic_rate_limiter service is configured with (default oic); the descriptor '
                 'is oic_host=<the host of --oic_url>.'),
    )),
)


def add_flags(parser: Any, environ: Optional[Mapping[str, str]] = None) -> None:
    """Adds every flag to `parser`, group by group; defaults read from `environ` (default os.environ) now."""
    environ = os.environ if environ is None else environ
    for group in GROUPS:
        section = parser.add_argument_group(group.title)
        for flag in group.flags:
            flag.add_to(section, environ)


def names() -> Tuple[str, ...]:
    """Every flag's name (its destination), in --help's order."""
    return tuple(flag.name for group in GROUPS for flag in group.flags)


def leftover_error(unknown: Sequence[str]) -> Optional[str]:
    """The one-line error for what no parser took (argparse's parse_known_args leftovers), or None."""
    flags = [a for a in unknown if a.startswith('-')]
    if flags:
        return 'unknown flag %s (see %s --help)' % (flags[0].split('=', 1)[0], PROG)
    if unknown:
        return 'unexpected argument %r (see %s --help)' % (unknown[0], PROG)
    return None


def wants_own_help(argv: Sequence[str]) -> bool:
    """-h or --help without --help_beam: the help of help_parser(), which needs no Beam import."""
    return ('-h' in argv or '--help' in argv) and HELP_BEAM not in argv


def help_parser(**kwargs: Any) -> argparse.ArgumentParser:
    """`python -m pipeline.run --help`: the project's flags by group, then how to see Beam's own."""
    parser = argparse.ArgumentParser(prog=PROG, usage='%(prog)s [-h] [--help_beam] [FLAG ...]',
                                     description=DESCRIPTION + ' ' + BEAM_FLAGS_NOTE,
                                     epilog=EPILOG + ' ' + BEAM_FLAGS_NOTE, allow_abbrev=False, **kwargs)
    parser.add_argument(HELP_BEAM, action='store_true', help='List every flag, Beam\'s standard options included.')
    add_flags(parser)
    return parser
