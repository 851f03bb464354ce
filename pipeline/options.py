"""The pipeline's own flags, with defaults from the local stack's environment variables."""

import os

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.oic.post import DEFAULT_CONCURRENCY, DEFAULT_CONCURRENCY_MODE
from transforms.oic.throttle import CONCURRENCY_MODES
from transforms.oic.caller import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S
from transforms.oic.retry import DEFAULT_DEADLINE_S, DEFAULT_MAX_ATTEMPTS
from transforms.oic.batch.grouping import DEFAULT_BATCH_CODE, DEFAULT_WAIT_S as DEFAULT_BATCH_WAIT_S
from transforms.source.synthetic import DEFAULT_RECORDS, DEFAULT_SHARDS, DEFAULT_STREAMING_RATE

PATHS = ('oic', 'direct', 'storage_write')  # pipeline/paths.py: what each one runs
DEFAULT_PATHS = ('oic', 'direct')  # docs/storage-write.md: why storage_write is not in the default run
DEFAULT_DRAIN_TIMEOUT_S = 30.0  # --drain_timeout: seconds the records in flight get after the first Ctrl-C.


def _env(name, default=None):
    value = os.environ.get(name)
    return value if value not in (None, '') else default


class WarehouseOptions(PipelineOptions):
    """Flags of `python -m pipeline.run`; every standard Beam option is accepted beside them."""

    @classmethod
    def _add_argparse_args(cls, parser):
        source = parser.add_argument_group('source')
        source.add_argument(
            '--records', type=int, default=None,
            help='How many synthetic records to generate (default %d in batch; unbounded with --streaming '
                 'unless given).' % DEFAULT_RECORDS)
        source.add_argument(
            '--input', default=None,
            help='Replay a file instead of generating: CSV in the seed\'s format (header WH_ID,Item_Name,Item_id,'
                 'Quantity_Available,Quantity_Requested,Backlog) or JSON lines (.jsonl).')
        source.add_argument(
            '--rate', type=float, default=None,
            help='Records per second the source emits; 0 = as fast as possible (default 0 in batch, %g with '
                 '--streaming).' % DEFAULT_STREAMING_RATE)
        source.add_argument(
            '--seed', type=int, default=None,
            help='Seed for the synthetic generator: the same seed gives the same record values (record_id and '
                 'event_time are new every run). Default: random.')

        paths = parser.add_argument_group('paths')
        paths.add_argument(
            '--paths', default=','.join(DEFAULT_PATHS),
            help='Comma-separated branches to run, any of %s (default %s).' % (', '.join(PATHS),
                                                                                ','.join(DEFAULT_PATHS)))
        paths.add_argument(
            '--out', default='out',
            help='Directory for the run record (sent records, acknowledgements, dead letters) and reports '
                 '(default out/).')

        run = parser.add_argument_group('the run')
        run.add_argument(
            '--skip_preflight', action='store_true', default=False,
            help='Do not check before the run that OIC (and the BigQuery emulator) can be reached from this machine '
                 '(resolve, connect, TLS handshake; nothing is posted). Unreachable = one line, exit 2 on a local '
                 'run; a warning only for Dataflow, whose workers may sit on another network.')
        run.add_argument(
            '--drain_timeout', type=float, default=DEFAULT_DRAIN_TIMEOUT_S,
            help='After the first Ctrl-C or SIGTERM the source stops and records already handed to a path get this '
                 'many seconds to be acknowledged or dead-lettered before the run is cancelled (default %g); a '
                 'second Ctrl-C cancels at once.' % DEFAULT_DRAIN_TIMEOUT_S)

        comparison = parser.add_argument_group('comparison')
        comparison.add_argument(
            '--at_rate', type=float, default=None,
            help='Sustained records per second the report prices each path at (cost per month, and the stated '
                 'rate on the cost curves). Default: the offered --rate of a paced or streaming run; for an '
                 'unpaced batch the lab\'s 1 record/s, never the burst rate.')

        oic = parser.add_argument_group('OIC branch')
        oic.add_argument(
            '--oic_url', default=_env('OIC_URL'),
            help='OIC REST trigger URL, e.g. https://HOST/ic/api/integration/v1/flows/rest/CODE/1.0/records '
                 '(env OIC_URL).')
        oic.add_argument(
            '--oic_username', default=_env('OIC_USERNAME'),
            help='OIC Basic Auth user (env OIC_USERNAME). The password is never a flag: it comes from the '
                 'OIC_PASSWORD environment variable or from --oic_password_secret.')
        oic.add_argument(
            '--oic_password_secret', default=_env('OIC_PASSWORD_SECRET'),
            help='Secret Manager version holding the OIC password, projects/P/secrets/S/versions/V; read by '
                 'the workers at start-up (env OIC_PASSWORD_SECRET).')
        oic.add_argument(
            '--oic_auth', default='basic', choices=('basic', 'oauth'),
            help='How the caller authenticates to the trigger: basic = Basic Auth with --oic_username and the '
                 'password (default); oauth = OAuth 2.0 client credentials of a confidential app of the identity '
                 'domain (--oic_token_url, --oic_client_id, --oic_scope, the client secret), a Bearer token on every '
                 'request.')
        oic.add_argument(
            '--oic_token_url', default=_env('OIC_TOKEN_URL'),
            help='With --oic_auth oauth: the identity domain\'s token endpoint, https://DOMAIN_HOST/oauth2/v1/token '
                 '(env OIC_TOKEN_URL).')
        oic.add_argument(
            '--oic_client_id', default=_env('OIC_CLIENT_ID'),
            help='With --oic_auth oauth: the confidential app\'s client id (env OIC_CLIENT_ID). The client secret is '
                 'never a flag: it comes from OIC_CLIENT_SECRET or from --oic_client_secret_secret.')
        oic.add_argument(
            '--oic_scope', default=_env('OIC_SCOPE'),
            help='With --oic_auth oauth: the scope, the OIC instance\'s audience URL followed by '
                 'urn:opc:resource:consumer::all (env OIC_SCOPE).')
        oic.add_argument(
            '--oic_client_secret_secret', default=_env('OIC_CLIENT_SECRET_SECRET'),
            help='With --oic_auth oauth: Secret Manager version holding the client secret, '
                 'projects/P/secrets/S/versions/V; read by the workers (needed on Dataflow; env '
                 'OIC_CLIENT_SECRET_SECRET).')
        oic.add_argument(
            '--oic_instance', default=_env('OIC_INSTANCE'),
            help='The OIC service instance\'s name (its About page\'s Service instance field; env OIC_INSTANCE), sent '
                 'as integrationInstance to the monitoring API, which requires it on OIC 3. Recorded for the '
                 'comparison; the trigger does not need it.')
        oic.add_argument(
            '--oic_monitoring_auth', default='oauth', choices=('oauth', 'basic'),
            help='How the comparison reads OIC\'s monitoring API: oauth (default; OIC 3 takes OAuth only on its '
                 'developer APIs) with the --oic_token_url, --oic_client_id and --oic_scope client and the client '
                 'secret, even when the trigger is called with Basic Auth; basic = the run\'s Basic Auth, for '
                 'instances that allow it (Gen2). docs/oic-setup.md.')
        oic.add_argument(
            '--oic_ca_bundle', default=_env('OIC_CA_BUNDLE'),
            help='PEM file of the CAs whose certificates the caller trusts for https OIC and token URLs (env '
                 'OIC_CA_BUNDLE, else REQUESTS_CA_BUNDLE, else the system\'s trust store). Read at launch and '
                 'shipped with the job. Certificates are always verified; there is no switch to turn that off.')
        oic.add_argument(
            '--oic_payload', default='extended', choices=('extended', 'seed'),
            help='Request body: extended = all eight fields (default); seed = exactly the seed\'s six fields.')
        oic.add_argument(
            '--oic_concurrency_mode', default=DEFAULT_CONCURRENCY_MODE, choices=CONCURRENCY_MODES,
            help='adaptive (default): each posting process finds how many requests in flight OIC takes from its '
                 'answers (429/503/504, timeouts, latency), up to its share of --oic_concurrency; fixed: exactly '
                 'its share of --oic_concurrency (docs/adaptive-concurrency.md).')
        oic.add_argument(
            '--oic_concurrency', type=int, default=None,
            help='The most requests in flight for the whole job, in both modes (adaptive: the ceiling the posting '
                 'processes\' limits grow to together, default %d, one OIC message pack; fixed: the requests in '
                 'flight, default %d). Divided among the processes that post: each takes floor(total / posting '
                 'processes), the posting processes being the batch grouping\'s keys, on Dataflow the posting keys '
                 '(about one per VM, never more than the total), locally the worker processes (docs/oic-caller.md). '
                 'Before issue 29 an adaptive value was each worker\'s own ceiling.'
                 % (DEFAULT_CONCURRENCY['adaptive'], DEFAULT_CONCURRENCY['fixed']))
        oic.add_argument(
            '--oic_connect_timeout', type=float, default=DEFAULT_CONNECT_TIMEOUT_S,
            help='Seconds to wait for a connection to OIC (default %g).' % DEFAULT_CONNECT_TIMEOUT_S)
        oic.add_argument(
            '--oic_read_timeout', type=float, default=DEFAULT_READ_TIMEOUT_S,
            help='Seconds to wait for OIC\'s answer to one request (default %g; OIC itself gives up at 300).'
                 % DEFAULT_READ_TIMEOUT_S)
        oic.add_argument(
            '--oic_max_attempts', type=int, default=DEFAULT_MAX_ATTEMPTS,
            help='Attempts per record, the first included, for retryable outcomes (connection errors, timeouts, '
                 '408, 429, 500, 502, 503, 504); default %d.' % DEFAULT_MAX_ATTEMPTS)
        oic.add_argument(
            '--oic_deadline', type=float, default=DEFAULT_DEADLINE_S,
            help='Seconds one record may take, retries and waits included, before it is dead-lettered '
                 '(default %g).' % DEFAULT_DEADLINE_S)
        oic.add_argument(
            '--oic_max_rps', type=float, default=0.0,
            help='Hard cap on requests per second to OIC across the job; each process that posts takes an equal '
                 'share, as with --oic_concurrency (default 0 = no cap; the adaptive throttling on 429/503 applies '
                 'anyway).')
        oic.add_argument(
            '--oic_batch_kb', type=float, default=0,
            help='Group records into request bodies {"records": [...]} of at most this many KB, posted to the batch '
                 'trigger (--oic_batch_url); a record is never split, one bigger than that goes alone. OIC bills one '
                 'message per started 50 KB, so 50 carries ~200 seed-sized records a message (default 0 = one record '
                 'per request to --oic_url; docs/oic-batching.md). Needs --oic_payload extended: a row\'s insertId is '
                 'its record_id, so a batch sent again cannot land twice.')
        oic.add_argument(
            '--oic_batch_wait', type=float, default=DEFAULT_BATCH_WAIT_S,
            help='With --oic_batch_kb in a stream: the longest a record waits for its batch to fill, in seconds of '
                 'event time after its own event time (default %g; must be > 0: 0 would set no timer). A bounded run '
                 'sends what is open when its input ends.' % DEFAULT_BATCH_WAIT_S)
        oic.add_argument(
            '--oic_batch_url', default=_env('OIC_BATCH_URL'),
            help='With --oic_batch_kb: the batch integration\'s REST trigger URL (env OIC_BATCH_URL). Default: '
                 '--oic_url with its flow code replaced by %s (.../flows/rest/%s/1.0/records), the local '
                 'stand-in\'s batch trigger.' % (DEFAULT_BATCH_CODE, DEFAULT_BATCH_CODE))
        oic.add_argument(
            '--dead_letter_table', default=None,
            help='BigQuery table PROJECT:DATASET.TABLE for every dead letter: invalid records and both paths\' '
                 'failures (besides the JSON lines under --out); created if missing.')
        oic.add_argument(
            '--allow_insecure_http', action='store_true', default=False,
            help='Allow Basic Auth, a Bearer token or the OAuth client secret over plain http:// to a host that is not '
                 'loopback (refused by default).')

        bigquery = parser.add_argument_group('BigQuery')
        bigquery.add_argument(
            '--oic_table', default=_env('OIC_TABLE', 'warehouse.inventory_oic'),
            help='Table that OIC writes to, PROJECT:DATASET.TABLE (env OIC_TABLE); read by the comparison.')
        bigquery.add_argument(
            '--direct_table', default=_env('DIRECT_TABLE', 'warehouse.inventory_direct'),
            help='Table the direct branch writes to, PROJECT:DATASET.TABLE (env DIRECT_TABLE).')
        bigquery.add_argument(
            '--storage_write_table', default=_env('STORAGE_WRITE_TABLE', 'warehouse.inventory_storage_write'),
            help='Table the storage_write branch writes to through the Storage Write API, PROJECT:DATASET.TABLE '
                 '(env STORAGE_WRITE_TABLE); it must exist with the records\' schema.')
        bigquery.add_argument(
            '--bq_project', default=_env('BQ_PROJECT'),
            help='Project for BigQuery when a table spec has none (env BQ_PROJECT; else --project).')
        bigquery.add_argument(
            '--bigquery_emulator_host', default=_env('BIGQUERY_EMULATOR_HOST'),
            help='A BigQuery emulator\'s REST address with scheme, e.g. http://127.0.0.1:9050 (env '
                 'BIGQUERY_EMULATOR_HOST). Unset = real BigQuery.')
        bigquery.add_argument(
            '--bigquery_emulator_grpc_host', default=_env('BIGQUERY_EMULATOR_GRPC_HOST'),
            help='The emulator\'s gRPC address HOST:PORT for the storage_write branch (env '
                 'BIGQUERY_EMULATOR_GRPC_HOST, set by the local stack). Unset = the real Storage Write API with '
                 'application default credentials.')
        bigquery.add_argument(
            '--run_record_dataset', default=_env('RUN_RECORD_DATASET'),
            help='BigQuery dataset PROJECT:DATASET (or DATASET with --bq_project) into which the pipeline also '
                 'streams its run record (sent, acks, dead_letters tables, partitioned by day and keyed by run id), '
                 'so that python -m pipeline.compare reconciles inside BigQuery at any scale and on a running stream. '
                 'Recommended on Dataflow; optional locally (env RUN_RECORD_DATASET). The tables are created if '
                 'missing; on BigQuery the dataset must exist.')
        bigquery.add_argument(
            '--no_landed_check', action='store_true', default=False,
            help='Skip reading BigQuery after the run (the summary then has no landed/missing figures).')
        bigquery.add_argument(
            '--probe_interval', type=float, default=0.5,
            help='Seconds between the polls of both tables that time when rows become queryable during a local run '
                 '(default 0.5; 0 = no probe). On real BigQuery each poll is a query job, billed at least 10 MB.')

        dataflow = parser.add_argument_group('Dataflow and scale-out')
        dataflow.add_argument(
            '--direct_method', default='STREAMING_INSERTS',
            choices=('STREAMING_INSERTS', 'STORAGE_WRITE_API', 'FILE_LOADS'),
            help='How the direct branch writes to BigQuery: STREAMING_INSERTS (default; rows refused by BigQuery '
                 'are dead-lettered), STORAGE_WRITE_API (Dataflow; needs Beam\'s Java expansion service) or '
                 'FILE_LOADS (batch only; needs a gs:// --temp_location).')
        dataflow.add_argument(
            '--source_shards', type=int, default=DEFAULT_SHARDS,
            help='Work items each tick of the streaming source fans out to; Dataflow spreads them over its workers '
                 'while the total stays --rate (default %d).' % DEFAULT_SHARDS)
        dataflow.add_argument(
            '--oic_rate_limiter', default=None,
            help='HOST:PORT of an Envoy rate-limit service that caps requests per second to OIC across the whole '
                 'job: one grant per request, a record or a batch (optional; the limit itself is configured in that '
                 'service).')
        dataflow.add_argument(
            '--oic_rate_limit_domain', default='oic',
            help='Rate-limit domain the --oic_rate_limiter service is configured with (default oic); the descriptor '
                 'is oic_host=<the host of --oic_url>.')
