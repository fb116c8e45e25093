"""Every exception type the library raises on purpose, in one light module (no TensorFlow), so
the command line can tell bad input from a bug without importing the engine.

- `UsageError` (and its kinds): bad input from the user, a flag, a config value, a dataset, a
  path, a population that cannot fit its memory budget. The CLI prints one line and exits 2.
- `SpecError`: an architecture spec that cannot describe a network (defined in `models.spec`,
  which the engine builds on); also exit 2.
- `TrainingDiverged`: the loss became NaN or infinite; exit 1.

Anything else is a bug and shows its traceback. The API's constructors raise plain `ValueError`
naming the argument and the value received, as Keras does.
"""
from models.spec import SpecError


class UsageError(Exception):
    """Bad input from the user: a flag, a config value, a dataset, a path."""

    exit_code = 2


class ConfigError(UsageError):
    """A config value that is unknown, of the wrong type or out of range, named with its key and
    the file (or `--set` flag) it came from."""


class DataNotPrepared(UsageError):
    """A tensorflow-datasets dataset that is not on disk and cannot be downloaded now."""


class MemoryBudgetError(UsageError, ValueError):
    """A population that cannot fit its memory budget; raised before allocating anything."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: a step made the weights non-finite."""

    exit_code = 1


def shown(value) -> str:
    """`value` as a message shows it: a numpy scalar as the number it holds (2, nan), not its repr
    np.int64(2); anything else as repr()."""
    if getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        value = value.item()
    return repr(value)


def exit_code(error: BaseException) -> int | None:
    """2 for bad input, 1 for a training that diverged, None for a bug (shown with its traceback)."""
    if isinstance(error, (UsageError, TrainingDiverged)):
        return error.exit_code
    if isinstance(error, SpecError):
        return 2
    return None


__all__ = ["ConfigError", "DataNotPrepared", "MemoryBudgetError", "SpecError", "TrainingDiverged", "UsageError",
           "exit_code", "shown"]
