"""The distributed search's network: Keras Tuner's chief/worker gRPC service with a shared secret
on every call, and TLS where certificates are given.

Keras Tuner serves its oracle in plaintext to anyone who reaches the port: any host could take
trials and report made-up metrics that pick the exported net. Here the chief's server refuses
every call that does not carry the token of `TOKEN_ENV` (compared in constant time), and workers
send it with each call. With `TLS_CERT_ENV` and `TLS_KEY_ENV` set on the chief it serves TLS;
workers then verify it against `TLS_CA_ENV`. The token authenticates workers; TLS keeps the token
and the trials private on the wire, so without TLS the network between the machines must be
trusted not to listen.
"""
from __future__ import annotations

import hmac
import os
import time
from concurrent import futures
from pathlib import Path

import grpc

from automl.errors import UsageError

TOKEN_ENV = "AUTOML_DISTRIBUTED_TOKEN"
TLS_CERT_ENV = "AUTOML_TLS_CERT"  # the chief's certificate (PEM)
TLS_KEY_ENV = "AUTOML_TLS_KEY"  # the chief's private key (PEM)
TLS_CA_ENV = "AUTOML_TLS_CA"  # what workers verify the chief's certificate against (PEM)
TOKEN_HEADER = "x-automl-token"  # gRPC metadata keys are lower case


def address() -> str:
    """Where the chief listens and workers connect: Keras Tuner's own variables."""
    return f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"


def token() -> str:
    """The shared secret; pipelines.distributed refuses a distributed run without one."""
    value = os.environ.get(TOKEN_ENV, "")
    if not value:
        raise UsageError(f"{TOKEN_ENV} is not set: a distributed search needs a shared secret")
    return value


class _TokenCheck(grpc.ServerInterceptor):
    """Refuses (UNAUTHENTICATED) every call without the token, before the oracle sees it."""

    def __init__(self, secret: str):
        self.secret = secret.encode()

        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing or wrong {TOKEN_HEADER}")

        self._refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, handler_call_details):
        sent = dict(handler_call_details.invocation_metadata or ()).get(TOKEN_HEADER, "")
        if hmac.compare_digest(sent.encode(), self.secret):
            return continuation(handler_call_details)
        return self._refusal


class _TokenSend(grpc.UnaryUnaryClientInterceptor):
    """Adds the token to every call a worker makes."""

    def __init__(self, secret: str):
        self.secret = secret

    def intercept_unary_unary(self, continuation, client_call_details, request):
        metadata = [*(client_call_details.metadata or ()), (TOKEN_HEADER, self.secret)]
        return continuation(client_call_details._replace(metadata=metadata), request)


def start_server(oracle):
    """The chief's oracle service on `address()`, token-checked, TLS when the chief has a
    certificate; returns (server, servicer), started."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=[_TokenCheck(token())])
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    cert, key = os.environ.get(TLS_CERT_ENV), os.environ.get(TLS_KEY_ENV)
    if cert and key:
        credentials = grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])
        server.add_secure_port(address(), credentials)
    else:
        server.add_insecure_port(address())
    server.start()
    return server, servicer


def serve(oracle) -> None:
    """Keras Tuner's chief loop (oracle_chief.start_server), polling every half second instead
    of every 20 s once the search is over, so that the chief's budget is not overrun."""
    from keras_tuner.src.distribute import oracle_chief

    server, servicer = start_server(oracle)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(0.5)
    finally:
        server.stop(grace=1.0)


def channel() -> grpc.Channel:
    """A worker's channel to the chief: TLS when a CA is given, the token on every call."""
    ca = os.environ.get(TLS_CA_ENV)
    if ca:
        plain = grpc.secure_channel(address(), grpc.ssl_channel_credentials(Path(ca).read_bytes()))
    else:
        plain = grpc.insecure_channel(address())
    return grpc.intercept_channel(plain, _TokenSend(token()))


def authenticate(client) -> None:
    """Points Keras Tuner's OracleClient (a worker's oracle) at `channel()`."""
    from keras_tuner.src import protos

    client.stub = protos.get_service_grpc().OracleStub(channel())
