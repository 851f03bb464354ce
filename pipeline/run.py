"""`python -m pipeline.run`: the command users run; the launcher itself is launcher/run.py (not shipped to workers)."""

if __name__ == '__main__':
    import sys
    from pipeline.flags import help_parser, wants_own_help
    if wants_own_help(sys.argv[1:]):  # The project's flags need no Beam import (--help_beam lists Beam's too).
        help_parser().print_help()
        sys.exit(0)
    from launcher.run import cli
    cli()
