"""`python -m launcher.check_flags (quick|stack.env|stand-in|stand-in-https) PIPELINE_FLAGS...`: the run's flags
checked as `python -m pipeline.run` checks them (launcher.run.parse: the same flags, values and rules), before
run_local.sh starts anything. Exit 2 with the run's one-line error, 0 when the run would start.

Three passes, so that a mistake costs no Beam import (about 3 s) whenever Beam is not needed to find it: first the
flags alone, Beam-free (quick_check: an unknown flag, a value of the wrong type or not among a flag's choices), from
the project's declarations (pipeline/flags.py) and the names of Beam's own options (launcher/beam_flags.json, written
beside docs/flags.md by launcher/flag_reference.py); then the rules on the values that need no Beam (values_check:
pipeline/rules/, e.g. --records at least 1, --oic_payload seed with --oic_batch_kb, --paths, the emulator's two
addresses), with the environment the run will have; then, only when they pass, the full resolution with Beam's
options (the runner, an --input file, the budget among Beam's workers, BigQuery's tables, Dataflow's pre-flight).

`quick` runs the first pass only (run_local.sh does, before it even asks whether a stack is up: the values' defaults
may still come from the stack). Otherwise the first argument says where the local stack's variables (OIC_URL,
BQ_ENDPOINT, ...) come from: `stack.env`, a stack that is up (its stack.env already in the environment), or
`stand-in`/`stand-in-https`: what devstack would write for a stack about to start (no CA yet), with the HTTPS trigger
URL for --oic_auth oauth."""

import argparse
import json
import os
import sys
from typing import Dict, List, Mapping, NoReturn, Optional, Sequence, Union

from pipeline import flags as declared
from pipeline.rules.errors import UsageError
from pipeline.rules.run import DEFAULT_RUNNER, BeamChoices
from pipeline.rules.values import check_values

SOURCES = ('quick', 'stack.env', 'stand-in', 'stand-in-https')
BEAM_FLAGS_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'beam_flags.json')


class _Refused(Exception):
    """A flag the quick pass refuses; its message is the one line printed."""


class _QuickParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Refused(message)


def beam_flags() -> Dict[str, Union[int, str, None]]:
    """Beam's own options: option string -> argparse nargs (0 = a switch, None = one value, '?' = an optional one)."""
    with open(BEAM_FLAGS_JSON, encoding='utf-8') as handle:
        return json.load(handle)


def _parser(environ: Mapping[str, str]) -> _QuickParser:
    """The project's flags (defaults from `environ`) and Beam's options by name, each Beam option's value under
    'beam--NAME' when given."""
    parser = _QuickParser(add_help=False, allow_abbrev=False)
    declared.add_flags(parser, environ=environ)
    for option, nargs in beam_flags().items():
        if nargs == 0:
            parser.add_argument(option, dest='beam' + option, action='store_true', default=argparse.SUPPRESS)
        else:
            parser.add_argument(option, dest='beam' + option, nargs=nargs, default=argparse.SUPPRESS)
    return parser


def quick_check(argv: Sequence[str]) -> Optional[str]:
    """The one-line error for an unknown flag, a value of the wrong type or not among a flag's choices, or None when
    the flags parse; Beam's options are accepted by name (their values are checked by the full pass)."""
    try:
        _, unknown = _parser({}).parse_known_args(list(argv))
    except _Refused as err:
        return str(err)
    return declared.leftover_error(unknown)


def values_check(argv: Sequence[str], environ: Mapping[str, str]) -> Optional[str]:
    """The one-line error of the first rule on the values that needs no Beam (pipeline/rules/values.py, as the run
    applies it), with the defaults and secrets of `environ`, or None; `argv` has passed quick_check."""
    try:
        values = _parser(environ).parse_known_args(list(argv))[0]
    except _Refused as err:
        return str(err)
    beam = BeamChoices(streaming=bool(getattr(values, 'beam--streaming', False)),
                       runner=getattr(values, 'beam--runner', None) or DEFAULT_RUNNER,
                       project=getattr(values, 'beam--project', None))
    try:
        check_values(values, beam, environ)
    except UsageError as err:
        return str(err)
    return None


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in SOURCES:
        print('usage: python -m launcher.check_flags {%s} PIPELINE_FLAGS...' % '|'.join(SOURCES), file=sys.stderr)
        return 2
    source, flags = args[0], args[1:]
    refused = quick_check(flags)
    if refused:
        print('error: %s' % refused, file=sys.stderr)
        return 2
    if source == 'quick':
        return 0
    if source.startswith('stand-in'):
        from devstack.stack import Stack  # Local tooling: only where run_local.sh is about to start a stack.
        variables = Stack(os.environ.get('LOCAL_STACK_DIR', '.local'),
                          oic_https_port=int(os.environ.get('LOCAL_OIC_HTTPS_PORT', '8443'))).env()
        if source == 'stand-in-https':
            variables['OIC_URL'] = variables['OIC_HTTPS_URL']
        os.environ.update(variables)
    refused = values_check(flags, os.environ)
    if refused:
        print('error: %s' % refused, file=sys.stderr)
        return 2
    from launcher.run import parse  # The full pass: Beam's options and the config's rules that need them.
    try:
        parse(flags)
    except UsageError as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
