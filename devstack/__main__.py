"""Command line of the local stack: python -m devstack up|down|status."""

import argparse
import json
import os
import sys

from devstack import bq_server
from devstack.oic import faults as faults_mod
from devstack.oic import instances
from devstack.oic.mapping import INTEGRATIONS
from devstack import stack as stack_mod
from devstack.procs import StackError
from transforms.oic.urls import MONITORING_PATH


def build_parser():
    parser = argparse.ArgumentParser(prog='python -m devstack',
                                     description='Local stand-ins for OIC and BigQuery (dev tooling).')
    commands = parser.add_subparsers(dest='command', required=True)
    up = commands.add_parser('up', help='start the stack in the background (or reuse a running one)')
    up.add_argument('--state-dir', default='.local', help='logs, pids and stack.env (default .local)')
    up.add_argument('--oic-port', type=int, default=8088)
    up.add_argument('--oic-https-port', type=int, default=8443, help='the OIC stand-in over HTTPS (default 8443)')
    up.add_argument('--token-ttl', type=float, default=stack_mod.DEFAULT_TOKEN_TTL_S,
                    help='seconds an OAuth access token is valid (default %d)' % stack_mod.DEFAULT_TOKEN_TTL_S)
    up.add_argument('--bq-rest-port', type=int, default=9050)
    up.add_argument('--bq-grpc-port', type=int, default=9060)
    up.add_argument('--bq-dedup-window', type=float, default=None, metavar='SECONDS',
                    help='how long the BigQuery emulator remembers insertIds and drops repeats, as BigQuery does '
                         '(default 60, or env BQ_DEDUP_WINDOW_S; 0 = off: every retried row lands)')
    up.add_argument('--oic-edition', choices=instances.EDITIONS, default='oic3',
                    help='oic3 (default): the monitoring API takes OAuth only and needs integrationInstance; gen2: '
                         'Basic Auth allowed there, camelCase answers')
    up.add_argument('--oic-integration', choices=INTEGRATIONS, default='strict',
                    help='strict (default): a row BigQuery refuses fails its instance (502); seed: the seed\'s '
                         'integration, 200 "Submitted" and a COMPLETED instance whatever insertAll returns')
    up.add_argument('--faults', help='OIC fault settings as JSON, e.g. \'{"error_rates": {"503": 0.1}, "seed": 1}\'')
    faults_mod.add_service_arguments(up)
    for name in ('down', 'status'):
        sub = commands.add_parser(name, help='stop the stack' if name == 'down' else 'show whether it runs')
        sub.add_argument('--state-dir', default='.local')
    return parser


def describe(variables, state_dir):
    base = variables['OIC_URL'].split('/ic/')[0]
    env_path = os.path.join(state_dir, stack_mod.ENV_FILE)
    return '\n'.join([
        '  OIC trigger     %s' % variables['OIC_URL'],
        '  OIC project URL %s' % variables.get('OIC_PROJECT_URL'),
        '  OIC monitoring  %s%s (OIC 3: OAuth only, integrationInstance=%s)' % (base, MONITORING_PATH,
                                                                                 variables.get('OIC_INSTANCE')),
        '  OIC username    %s' % variables['OIC_USERNAME'],
        '  OIC password    %s' % variables['OIC_PASSWORD'],
        '  OIC over HTTPS  %s (CA %s)' % (variables.get('OIC_HTTPS_URL'), variables.get('OIC_CA_BUNDLE')),
        '  OAuth token     %s (client %s, secret in OIC_CLIENT_SECRET)' % (variables.get('OIC_TOKEN_URL'),
                                                                         variables.get('OIC_CLIENT_ID')),
        '  OAuth scope     %s' % variables.get('OIC_SCOPE'),
        '  BigQuery        %s (project %s), gRPC %s' % (variables['BIGQUERY_EMULATOR_HOST'], variables['BQ_PROJECT'],
                                                     variables.get('BIGQUERY_EMULATOR_GRPC_HOST')),
        '  tables          %s, %s' % (variables['OIC_TABLE'], variables['DIRECT_TABLE']),
        '  logs            %s/*.log' % state_dir,
        '  environment     set -a; source %s; set +a' % env_path,
        '  try             curl -u "$OIC_USERNAME:$OIC_PASSWORD" -H "Content-Type: application/json" '
        '-d \'{"WH_ID":"WH1","Item_Name":"Poultry Fat","Item_id":105,"Quantity_Available":10,'
        '"Quantity_Requested":4,"Backlog":0}\' "$OIC_URL"',
    ])


def cmd_up(args):
    record, alive, healthy = stack_mod.running(args.state_dir)
    if healthy:
        variables = stack_mod.read_env_file(os.path.join(args.state_dir, stack_mod.ENV_FILE))
        print('Local stack already up (state in %s), reusing it:' % args.state_dir)
        print(describe(variables, args.state_dir))
        return 0
    if record:
        print('Stopping the stale stack recorded in %s' % args.state_dir)
        stack_mod.down(args.state_dir)
    if args.bq_dedup_window is not None and not 0 <= args.bq_dedup_window < float('inf'):
        raise StackError('--bq-dedup-window must be a number of seconds >= 0')
    try:
        bq_server.dedup_window_from(os.environ)
    except ValueError as error:
        raise StackError(str(error)) from None
    try:
        fault_settings = faults_mod.with_service_flags(json.loads(args.faults) if args.faults else None, args)
        stack = stack_mod.Stack(args.state_dir, args.oic_port, args.bq_rest_port, args.bq_grpc_port,
                                faults=fault_settings, oic_https_port=args.oic_https_port, token_ttl=args.token_ttl,
                                bq_dedup_window=args.bq_dedup_window, oic_edition=args.oic_edition,
                                oic_integration=args.oic_integration)
    except ValueError as error:
        raise StackError('--faults: %s' % error) from None
    print('Starting the local stack (state in %s) ...' % args.state_dir, flush=True)
    stack.start()
    stack.save()
    print('Local stack is up:')
    print(describe(stack.env(), args.state_dir))
    return 0


def cmd_down(args):
    stopped = stack_mod.down(args.state_dir)
    if stopped:
        print('Stopped %s' % ', '.join(stopped))
    else:
        print('No local stack running (state dir %s)' % args.state_dir)
    return 0


def cmd_status(args):
    record, alive, healthy = stack_mod.running(args.state_dir)
    if not record:
        print('down (no stack recorded in %s)' % args.state_dir)
        return 3
    pids = ', '.join('%s pid %d' % (name, entry['pid']) for name, entry in record['pids'].items())
    state = 'up' if healthy else ('running but unhealthy' if alive else 'stale (processes gone)')
    print('%s: %s; started %s' % (state, pids, record['started']))
    for name, url in record['health'].items():
        print('  %s health %s' % (name, url))
    return 0 if healthy else 1


COMMANDS = {'up': cmd_up, 'down': cmd_down, 'status': cmd_status}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except StackError as error:
        print('devstack: %s' % error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
