"""The one error type of configuration: a mistake in flags or environment."""


class UsageError(Exception):
    """A mistake in flags or environment: reported as one line on stderr with exit code 2."""
