"""Flex Template entry point: the launcher's --switch=true|false become Beam switches, then pipeline.run submits."""

import argparse
import sys
from typing import List, Sequence, Tuple

from launcher.run import main
from pipeline.options import WarehouseOptions


def _value_less_flags() -> Tuple[str, ...]:
    """The pipeline's own flags that take no value (read from the options, so a new switch needs no edit here)."""
    parser = argparse.ArgumentParser(add_help=False)
    WarehouseOptions._add_argparse_args(parser)  # pylint: disable=protected-access
    return tuple(sorted(a.dest for a in parser._actions if a.nargs == 0))  # pylint: disable=protected-access


# Flags that take no value on the command line; a Flex Template passes every parameter as --name=value.
SWITCHES = ('streaming',) + _value_less_flags()
TRUE, FALSE = ('true', '1', 'yes'), ('false', '0', 'no', '')


def translate(argv: Sequence[str]) -> List[str]:
    """--streaming=true -> --streaming, --streaming=false -> nothing; the launcher returns once the job is submitted."""
    translated = []
    for arg in argv:
        name, sep, value = arg.partition('=')
        if sep and name.lstrip('-') in SWITCHES and value.lower() in TRUE + FALSE:
            if value.lower() in TRUE:
                translated.append(name)
            continue
        translated.append(arg)
    if '--no_wait_until_finish' not in translated:
        translated.append('--no_wait_until_finish')  # The launcher VM must not wait for a stream to end.
    return translated


if __name__ == '__main__':
    sys.exit(main(translate(sys.argv[1:])))
