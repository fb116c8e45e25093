"""Atomic file writes: a kill at any moment leaves the old file or the new one, never half of one.

Files and folders get the modes the user's umask allows, as `open` and `mkdir` would give them:
the temporary files behind the atomic writes are private (0600) until chmod-ed here, and a run
directory must be readable by TensorBoard or a model server running as another user.
`load_model` is the reading side: a file that is not a Keras archive is bad input, not a bug."""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

from automl.errors import UsageError


def _process_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it before Python 3.13's os.getumask...
    os.umask(mask)          # ...is to set it and put it back
    return mask


UMASK = _process_umask()  # read once, at import: setting it briefly must not race with other threads


def file_mode() -> int:
    """The mode a new file gets from `open`: 0666 less the umask."""
    return 0o666 & ~UMASK


def folder_mode() -> int:
    """The mode a new folder gets from `mkdir`: 0777 less the umask."""
    return 0o777 & ~UMASK


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def atomic_save_model(model, path: str | Path, weights_only: bool = False) -> None:
    """model.save() (or save_weights()) into a temporary file beside `path`, then an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")  # keeps the suffix Keras checks (.keras, .weights.h5)
    try:
        (model.save_weights if weights_only else model.save)(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_folder(path: str | Path, what: str) -> None:
    """mkdir -p `path`; a path that cannot be a folder (a file on the way, no permission) is bad
    input named in one line, e.g. "cannot create run directory a/b: Not a directory"."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:  # raised by mkdir only: every case is about this path
        raise UsageError(f"cannot create {what} {path}: {e.strerror}") from None


def load_model(path: str | Path):
    """keras.models.load_model(path); a file that is not a Keras archive (truncated, overwritten,
    not a model) is refused in one line naming it, where Keras would say "File not found" of a
    file that exists. Nothing is deleted: the user decides what to do with it."""
    import keras

    if not zipfile.is_zipfile(path):
        raise UsageError(f"{path} is not a Keras model file (truncated or corrupt?)")
    try:
        return keras.models.load_model(path)
    except zipfile.BadZipFile as e:
        raise UsageError(f"{path} is not a readable Keras model file: {e}") from None


def _jsonable(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
