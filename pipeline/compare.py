"""`python -m pipeline.compare`: the command users run; the comparison itself is comparison/ (not shipped to workers)."""

if __name__ == '__main__':
    import sys

    from comparison.compare import main
    sys.exit(main())
