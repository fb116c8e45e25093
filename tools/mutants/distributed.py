"""Mutations of the distributed search's network (issue #19: a shared token on every call, TLS
where certificates are given, loopback by default): see tools/mutations.py."""

D = "tests/test_distributed_auth.py::"

MUTATIONS = [
    dict(id="remote-token-unchecked", mechanism="the chief refuses calls without the shared token",
         what="every call let through", file="automl/evolution/remote.py",
         find="if hmac.compare_digest(sent.encode(), self.secret):", replace="if True:",
         tests=[D + "test_the_chief_refuses_calls_without_the_token_and_serves_a_worker_that_sends_it"]),
    dict(id="remote-token-not-sent", mechanism="workers send the token with every call",
         what="plain channel", file="automl/evolution/remote.py",
         find="return grpc.intercept_channel(plain, _TokenSend(token()))", replace="return plain",
         tests=[D + "test_the_chief_refuses_calls_without_the_token_and_serves_a_worker_that_sends_it"]),
    dict(id="remote-worker-not-authenticated", mechanism="a worker's tuner talks through the authenticated channel",
         what="Keras Tuner's plaintext client kept", file="automl/evolution/tuner.py",
         find="            remote.authenticate(self.oracle)\n", replace="            pass\n",
         tests=[D + "test_an_evolution_tuner_on_a_worker_uses_the_authenticated_channel"]),
    dict(id="remote-tls-ignored", mechanism="the chief serves TLS when it has a certificate",
         what="certificate ignored", file="automl/evolution/remote.py",
         find="    if cert and key:\n", replace="    if False:\n",
         tests=[D + "test_tls_when_the_chief_has_a_certificate"]),
    dict(id="remote-no-loopback-default", mechanism="no address: the chief listens on this machine only",
         what="no default address", file="pipelines/distributed.py",
         find='os.environ.setdefault("KERASTUNER_ORACLE_IP", LOOPBACK)', replace="pass",
         tests=[D + "test_distributed_settings_are_checked_before_anything_starts"]),
    dict(id="remote-token-optional", mechanism="a distributed run needs the shared token",
         what="missing token accepted", file="pipelines/distributed.py",
         find="if not os.environ.get(TOKEN_ENV):", replace="if False:",
         tests=[D + "test_distributed_settings_are_checked_before_anything_starts"]),
]
