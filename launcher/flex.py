"""Flex Template entry point: the launcher's --switch=true|false become Beam switches, then pipeline.run submits."""

import sys
from typing import List, Sequence

from launcher.run import main

# Flags that take no value on the command line; a Flex Template passes every parameter as --name=value.
SWITCHES = ('streaming', 'no_landed_check', 'allow_insecure_http')
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
