"""`automl survival --clinical CSV`: the clinical table read from its file. The library
(automl.survival) takes a DataFrame and checks it; reading the file is the command's part."""
from __future__ import annotations

from pathlib import Path

from automl.errors import UsageError


def read_table(path: str | Path):
    """The CSV at `path` as a DataFrame indexed by line number (the header is line 1), so the
    library's messages name the rows as a spreadsheet shows them."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"clinical table {path} does not exist (give it with --clinical CSV)")
    try:
        table = pd.read_csv(path)
    except ValueError as e:  # malformed, empty or binary: pandas' ParserError, EmptyDataError and UnicodeDecodeError
        raise UsageError(f"clinical table {path} cannot be read as CSV ({type(e).__name__}: {e})") from None
    table.index = table.index + 2
    return table
