"""The distributed search's network (issue #19): the chief answers only calls that carry the shared
token, workers send it, TLS where certificates are given, loopback when no address is set."""
import shutil
import socket
import subprocess

import grpc
import pytest

from automl.errors import UsageError
from automl.evolution import remote
from automl.evolution.space import ConvStackSpace
from conftest import evolution_oracle
from pipelines import distributed

SECRET = "correct horse battery staple"


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.fixture
def chief_env(monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", _free_port())
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.setenv(remote.TOKEN_ENV, SECRET)
    return monkeypatch


def _serving(tmp_path):
    oracle = evolution_oracle(ConvStackSpace(), tmp_path, budget_epochs=20, epochs_per_trial=4)
    server, _ = remote.start_server(oracle)
    return oracle, server


def _create_trial(channel):
    from keras_tuner.src import protos

    stub = protos.get_service_grpc().OracleStub(channel)
    return stub.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id="worker1"), timeout=10)


def test_the_chief_refuses_calls_without_the_token_and_serves_a_worker_that_sends_it(tmp_path, chief_env):
    oracle, server = _serving(tmp_path)
    try:
        for plain in (grpc.insecure_channel(remote.address()),
                      grpc.intercept_channel(grpc.insecure_channel(remote.address()), remote._TokenSend("wrong"))):
            with pytest.raises(grpc.RpcError) as refused:
                _create_trial(plain)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert not oracle.trials                                        # no trial went to an unknown caller
        answer = _create_trial(remote.channel())                        # what a worker's client uses
        assert answer.trial.trial_id and list(oracle.trials) == [answer.trial.trial_id]
    finally:
        server.stop(grace=None)


def test_a_worker_tuner_talks_to_the_chief_through_the_authenticated_channel(tmp_path, chief_env):
    from keras_tuner.src.distribute import oracle_client

    oracle, server = _serving(tmp_path)
    try:
        client = oracle_client.OracleClient(oracle)
        remote.authenticate(client)
        trial = client.create_trial("worker1")
        assert client.get_trial(trial.trial_id).trial_id == trial.trial_id
    finally:
        server.stop(grace=None)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_when_the_chief_has_a_certificate(tmp_path, chief_env):
    cert, key = tmp_path / "chief.pem", tmp_path / "chief.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    chief_env.setenv(remote.TLS_CERT_ENV, str(cert))
    chief_env.setenv(remote.TLS_KEY_ENV, str(key))
    oracle, server = _serving(tmp_path)
    try:
        with pytest.raises(grpc.RpcError):                              # plaintext cannot talk to a TLS chief
            _create_trial(grpc.intercept_channel(grpc.insecure_channel(remote.address()), remote._TokenSend(SECRET)))
        chief_env.setenv(remote.TLS_CA_ENV, str(cert))
        assert _create_trial(remote.channel()).trial.trial_id
    finally:
        server.stop(grace=None)


def test_distributed_settings_are_checked_before_anything_starts(monkeypatch, tmp_path):
    for name in (*distributed.ENV, remote.TOKEN_ENV, remote.TLS_CERT_ENV, remote.TLS_KEY_ENV, remote.TLS_CA_ENV):
        monkeypatch.setenv(name, "")   # recorded as absent before, so that the address role() sets goes at the end
        monkeypatch.delenv(name)
    assert distributed.role() == "serial"
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    with pytest.raises(UsageError, match=remote.TOKEN_ENV):
        distributed.role()
    monkeypatch.setenv(remote.TOKEN_ENV, SECRET)
    assert distributed.role() == "chief"
    assert remote.address() == "127.0.0.1:8000"                       # no address: this machine only
    monkeypatch.setenv(remote.TLS_CERT_ENV, str(tmp_path / "chief.pem"))
    with pytest.raises(UsageError, match="both"):
        distributed.role()
    monkeypatch.setenv(remote.TLS_KEY_ENV, str(tmp_path / "chief.key"))
    with pytest.raises(UsageError, match="not a readable file"):
        distributed.role()
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker1")
    monkeypatch.setenv(remote.TLS_CA_ENV, str(tmp_path))               # a directory is not a certificate
    with pytest.raises(UsageError, match=remote.TLS_CA_ENV):
        distributed.role()


def test_an_evolution_tuner_on_a_worker_uses_the_authenticated_channel(tmp_path, chief_env):
    from automl.evolution.tuner import EvolutionTuner

    oracle, server = _serving(tmp_path)
    try:
        chief_env.setenv("KERASTUNER_TUNER_ID", "worker1")
        worker = EvolutionTuner(evolution_oracle(ConvStackSpace()), ConvStackSpace(), learning_rate=1e-3, seed=0,
                                near_identity=0.01, heartbeat=0.0, directory=str(tmp_path), project_name="worker")
        assert worker.oracle.create_trial("worker1").trial_id in oracle.trials
    finally:
        server.stop(grace=None)
