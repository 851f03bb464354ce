"""`python -m launcher.check_flags (env|stand-in|stand-in-https) PIPELINE_FLAGS...`: the run's flags checked as
`python -m pipeline.run` checks them (launcher.run.parse: the same flags, values and rules), before run_local.sh starts
anything. Exit 2 with the run's one-line error, 0 when the run would start.

The first argument says where the local stack's variables (OIC_URL, BQ_ENDPOINT, ...) come from: `stack.env`, a stack that
is up (its stack.env already in the environment), or `stand-in`/`stand-in-https`: what devstack would write for a
stack about to start (no CA yet), with the HTTPS trigger URL for --oic_auth oauth."""

import os
import sys
from typing import List, Optional

SOURCES = ('stack.env', 'stand-in', 'stand-in-https')


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in SOURCES:
        print('usage: python -m launcher.check_flags {%s} PIPELINE_FLAGS...' % '|'.join(SOURCES), file=sys.stderr)
        return 2
    source, flags = args[0], args[1:]
    if source.startswith('stand-in'):
        from devstack.stack import Stack  # Local tooling: only where run_local.sh is about to start a stack.
        variables = Stack(os.environ.get('LOCAL_STACK_DIR', '.local'),
                          oic_https_port=int(os.environ.get('LOCAL_OIC_HTTPS_PORT', '8443'))).env()
        if source == 'stand-in-https':
            variables['OIC_URL'] = variables['OIC_HTTPS_URL']
        os.environ.update(variables)
    from launcher.run import parse
    from pipeline.config import UsageError
    try:
        parse(flags)
    except UsageError as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
