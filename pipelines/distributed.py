"""Keras Tuner's chief/worker roles, read from its documented environment variables.

Light on purpose (no TensorFlow, no keras_tuner import), so that a bad setting fails in a
fraction of a second.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from automl.errors import UsageError

ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def role() -> str:
    """serial (no chief), chief, or worker."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "serial"
    missing = [name for name in ENV if not os.environ.get(name)]
    if missing:
        raise UsageError(f"distributed search: KERASTUNER_ORACLE_IP is set but {', '.join(missing)} is not "
                         "(set all of KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT)")
    port = os.environ["KERASTUNER_ORACLE_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"distributed search: KERASTUNER_ORACLE_PORT must be a port number, got {port!r}")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def wait_for_run(path: str | Path, timeout: float = 600.0, poll: float = 1.0) -> Path:
    """A worker waits for the chief to create the shared run directory."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    while not _ready(path):
        if time.monotonic() > deadline:
            raise UsageError(f"distributed worker: no run directory at {path} after {timeout:.0f} s; start the "
                             "chief (KERASTUNER_TUNER_ID=chief) with the same --out on a shared filesystem")
        time.sleep(poll)
    return path


def _ready(path: Path) -> bool:
    try:  # the chief writes config.yaml, then meta.json, then the strategy into meta.json
        return (path / "config.yaml").is_file() and "strategy" in json.loads((path / "meta.json").read_text())
    except (OSError, ValueError):
        return False
