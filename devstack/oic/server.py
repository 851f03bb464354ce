"""`python -m devstack.oic.server`: a local stand-in for the seed's OIC app-driven integration: REST trigger,
tracking, monitoring API, faults; Basic Auth or OAuth 2.0 client credentials (an identity domain's token endpoint),
over HTTP and HTTPS.

It refuses what Oracle Integration 3 refuses (edition `oic3`, the default): the trigger takes Basic Auth or a Bearer
token ("About Requests to Invoke Integrations"), the developer APIs (the monitoring API) a Bearer token only ("When is
Basic Authentication Supported in Oracle Integration 3?", "You Must Use OAuth with the Oracle Integration Developer
APIs"), and the monitoring operations require `integrationInstance` ("Retrieve Integration Instances", "Retrieve an
Integration Instance"). Edition `gen2` keeps Basic Auth on the monitoring API and camelCase answers. Triggers are
served in both URL forms: v1 /ic/api/integration/v1/flows/rest/CODE/VERSION/records and an OIC 3 project's
/ic/api/integration/v2/flows/rest/project/PROJECT/CODE/VERSION/records. The integration behind the per-record trigger
is the project's (`strict`: a row BigQuery refuses fails the instance and answers 502) or the seed's (`seed`: its
mapping answers "Submitted" whatever insertAll returns, so a refused row completes with 200); docs/local-stack.md.

This module is the command line (flags, credentials from the environment, HTTP and HTTPS sites); the application is
devstack/oic/app/ (routes.make_app), one concern a module."""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys

from aiohttp import web

from devstack.oic import faults as faults_mod
from devstack.oic import sink as sink_mod
from devstack.oic import urls
from devstack.oic.app.oauth import DEFAULT_TOKEN_TTL_S, oauth_from_env
from devstack.oic.app.routes import make_app
from devstack.oic.app.state import DEFAULT_MAX_BODY, State
from devstack.oic.instances import EDITIONS
from devstack.oic.mapping import INTEGRATIONS

log = logging.getLogger('devstack.oic.server')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='python -m devstack.oic.server',
        description='Local OIC stand-in. Credentials come from the environment: OIC_USERNAME and OIC_PASSWORD (Basic '
                    'Auth), and OIC_CLIENT_ID, OIC_CLIENT_SECRET and OIC_SCOPE (OAuth client credentials, optional); '
                    'OIC_INSTANCE is the service instance name the monitoring API expects as integrationInstance.')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8088)
    parser.add_argument('--https-port', type=int, default=None, help='also serve HTTPS on this port (needs --tls-cert)')
    parser.add_argument('--tls-cert', help='PEM file with the server\'s private key and certificate chain')
    parser.add_argument('--token-ttl', type=float, default=DEFAULT_TOKEN_TTL_S,
                        help='seconds an OAuth access token is valid (default %d)' % DEFAULT_TOKEN_TTL_S)
    parser.add_argument('--bq-endpoint', help='BigQuery REST endpoint, e.g. http://127.0.0.1:9050; '
                                              'without it rows are acknowledged but not stored')
    parser.add_argument('--project', default='local-project', help='project for a --table without one')
    parser.add_argument('--table', default='local-project:warehouse.inventory_oic',
                        help='project:dataset.table the mapper inserts into')
    parser.add_argument('--faults', help='fault settings as JSON (see devstack/oic/faults.py)')
    faults_mod.add_service_arguments(parser)
    parser.add_argument('--edition', choices=EDITIONS, default='oic3',
                        help='oic3 (default): OAuth only and integrationInstance on the monitoring API, kebab-case '
                             'answers; gen2: Basic Auth allowed there, camelCase answers')
    parser.add_argument('--integration', choices=INTEGRATIONS, default='strict',
                        help='strict (default): a row BigQuery refuses fails its instance (502); seed: the seed\'s '
                             'integration, which answers 200 "Submitted" and completes whatever insertAll returns')
    parser.add_argument('--max-instances', type=int, default=100000, help='tracking instances kept in memory')
    parser.add_argument('--max-body', type=int, default=DEFAULT_MAX_BODY, help='request body limit in bytes')
    return parser


def server_tls_context(cert_path):
    """A server context with the stack's certificate (TLS 1.2 at least)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path)
    return context


async def serve(app, sites):
    """Serves `app` on every (host, port, ssl_context) of `sites` until SIGINT/SIGTERM."""
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    try:
        for host, port, context in sites:
            await web.TCPSite(runner, host, port, ssl_context=context, shutdown_timeout=1.0).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(asctime)s %(name)s %(message)s')
    username, password = os.environ.get('OIC_USERNAME'), os.environ.get('OIC_PASSWORD')
    if not username or not password:
        print('devstack.oic.server: set OIC_USERNAME and OIC_PASSWORD in the environment', file=sys.stderr)
        return 2
    try:
        settings = faults_mod.with_service_flags(json.loads(args.faults) if args.faults else None, args)
        faults_mod.parse(settings)
        oauth = oauth_from_env(os.environ, args.token_ttl)
        if args.bq_endpoint:
            from devstack.bq import parse_table_spec
            sink = sink_mod.BigQuerySink(args.bq_endpoint, *parse_table_spec(args.table, args.project))
        else:
            sink = sink_mod.NoSink()
        sites = [(args.host, args.port, None)]
        if args.https_port is not None:
            if not args.tls_cert:
                raise ValueError('--https-port needs --tls-cert')
            sites.append((args.host, args.https_port, server_tls_context(args.tls_cert)))
    except (ValueError, OSError, ssl.SSLError) as error:
        print('devstack.oic.server: %s' % error, file=sys.stderr)
        return 2
    state = State(username, password, sink, settings, args.max_instances, args.max_body, oauth=oauth,
                  instance_name=os.environ.get('OIC_INSTANCE') or None, edition=args.edition,
                  integration=args.integration)
    log.info('OIC stand-in on http://%s:%d%s (sink: %s)', args.host, args.port, urls.TRIGGER_PATH, sink.description)
    if args.https_port is not None:
        log.info('and on https://%s:%d%s', args.host, args.https_port, urls.TRIGGER_PATH)
    if oauth is not None:
        log.info('OAuth token endpoint %s, tokens valid %gs', urls.TOKEN_PATH, oauth.ttl)
    try:
        asyncio.run(serve(make_app(state), sites))
    except OSError as error:
        print('devstack.oic.server: cannot listen on %s: %s' % (args.host, error.strerror), file=sys.stderr)
        return 2
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
