"""Errors the CLI turns into one line and a non-zero exit, never a traceback."""


class UsageError(Exception):
    """Bad input from the user: a flag, a config value, a dataset, a path."""

    exit_code = 2


class DataNotPrepared(UsageError):
    """A tensorflow-datasets dataset that is not on disk and cannot be downloaded now."""
