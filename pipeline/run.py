"""`python -m pipeline.run`: the command users run; the launcher itself is launcher/run.py (not shipped to workers)."""

if __name__ == '__main__':
    from launcher.run import cli
    cli()
