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
LOOPBACK = "127.0.0.1"


def role() -> str:
    """serial (no chief), chief, or worker, after checking the distributed settings.

    A port without an address means this machine only: KERASTUNER_ORACLE_IP is set to the
    loopback address, so that a chief never listens on the network by accident.
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ and "KERASTUNER_ORACLE_PORT" not in os.environ:
        return "serial"
    from automl.evolution.remote import TOKEN_ENV  # grpc: only for distributed runs

    os.environ.setdefault("KERASTUNER_ORACLE_IP", LOOPBACK)
    missing = [name for name in ENV if not os.environ.get(name)]
    if missing:
        raise UsageError(f"distributed search: {', '.join(missing)} is not set "
                         "(set KERASTUNER_TUNER_ID and KERASTUNER_ORACLE_PORT, and KERASTUNER_ORACLE_IP unless "
                         "every process runs on this machine)")
    port = os.environ["KERASTUNER_ORACLE_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"distributed search: KERASTUNER_ORACLE_PORT must be a port number, got {port!r}")
    if not os.environ.get(TOKEN_ENV):
        raise UsageError(f"distributed search: set {TOKEN_ENV} to the same secret on the chief and every worker "
                         f"(e.g. `export {TOKEN_ENV}=$(openssl rand -hex 32)`); the chief refuses calls without it")
    chief = "chief" in os.environ["KERASTUNER_TUNER_ID"]
    _check_tls(chief)
    return "chief" if chief else "worker"


def _check_tls(chief: bool) -> None:
    """The chief needs both its certificate and key or neither; every named file must be readable."""
    from automl.evolution.remote import TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV

    if chief and bool(os.environ.get(TLS_CERT_ENV)) != bool(os.environ.get(TLS_KEY_ENV)):
        raise UsageError(f"distributed search: TLS needs both {TLS_CERT_ENV} and {TLS_KEY_ENV} on the chief")
    for name in ((TLS_CERT_ENV, TLS_KEY_ENV) if chief else (TLS_CA_ENV,)):
        path = os.environ.get(name)
        if path and not (os.path.isfile(path) and os.access(path, os.R_OK)):
            raise UsageError(f"distributed search: {name}={path} is not a readable file")


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
