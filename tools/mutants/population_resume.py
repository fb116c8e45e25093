"""Mutations of the population optimizers' exact resume (issue 17, item 6): see tools/mutations.py.

Each one is a way a run stopped by its budget could resume differently from the run that was never
stopped while every uninterrupted run stays as it was: state kept outside the checkpoint (or
dropped from it, or reset on load), and randomness or data order tied to the process rather than
to (seed, generation). So only tests/test_population_resume.py, which compares a stopped-and-resumed
run with an uninterrupted one, can catch them; a test of one run alone cannot.
"""

_TEST = "tests/test_population_resume.py::test_a_stopped_and_resumed_run_ends_bit_identical_to_an_uninterrupted_one"
BASE, NDES, DE = "automl/population/base.py", "automl/population/ndes.py", "automl/population/de.py"


def _cases(*ids):
    return [f"{_TEST}[{i}]" for i in ids]


MUTATIONS = [
    # -- shared machinery (base.py): every optimizer --------------------------------------------
    dict(id="pr-rng-per-process", mechanism="generation g's randomness from a generator seeded by (seed, g)",
         what="one generator per fit call, seeded without the generation (a resumed process restarts its stream)",
         file=BASE, find="            rng = np.random.default_rng([self.seed, t + 1])",
         replace='            rng = self.__dict__.setdefault("_rng", np.random.default_rng([self.seed, 1]))',
         tests=_cases("leea", "ndes", "de", "cosyne", "es")),
    dict(id="pr-batch-order-per-process", mechanism="each epoch's batch order seeded by (seed, epoch)",
         what="the batch order cached per fit call (a resumed process keeps the order of the epoch it resumed in)",
         file=BASE, find="order = np.random.default_rng([self.seed, 1, epoch]).permutation(n)",
         replace='order = self.__dict__.setdefault("_order", np.random.default_rng([self.seed, 1, epoch]).permutation(n))',
         tests=_cases("leea", "de", "cosyne", "es")),
    dict(id="pr-epoch-stats-not-saved", mechanism="checkpoint: a partial epoch's batch statistics",
         what="field dropped from the checkpoint (the resumed epoch's train loss averages only its own generations)",
         file=BASE, find='json.dumps({**run, "optimizer": self.name,',
         replace='json.dumps({**run, "epoch_stats": [], "optimizer": self.name,',
         tests=_cases("es", "de", "leea")),
    dict(id="pr-reinitialise-on-resume", mechanism="resume: the population comes from the checkpoint",
         what="initialise() run unconditionally, after the load (the restored population overwritten)",
         file=BASE, find="\n            self.initialise(engine.table.flatten(), engine,",
         replace="\n        self.initialise(engine.table.flatten(), engine,",
         tests=_cases("leea", "ndes", "de", "es")),
    dict(id="pr-best-loss-reset-on-load", mechanism="DE, CoSyNE, ES: the best member ever seen (its batch loss)",
         what="state key reset by load_extra_state (the best-ever loss treated as per-process)",
         file=BASE, find="        self.state = state",
         replace='        self.state = {**state, "best_loss": np.array(np.inf)} if "best_loss" in state else state',
         tests=_cases("es", "cosyne")),
    # -- DE --------------------------------------------------------------------------------------
    dict(id="pr-de-best-index-outside-state", mechanism="DE: the best member's index for the best-based mutations",
         what="kept in an attribute outside the checkpointed state (the bug fixed in issue 16)",
         file=DE,
         find='''        trials = self.trials(pop, rng, best=int(self.state.get("best_index", 0)))
        losses = self.evaluate(engine, ops.concatenate([pop, trials], axis=0), x, y)
        parent_loss, trial_loss = losses[:p], losses[p:]
        take = trial_loss <= parent_loss  # greedy one-to-one selection (seed 003 [code]: <=)
        pop = ops.where(ops.convert_to_tensor(take)[:, None], trials, pop)
        kept = np.where(take, trial_loss, parent_loss)
        self.state["best_index"] = np.array(int(np.argmin(kept)))''',
         replace='''        trials = self.trials(pop, rng, best=getattr(self, "_best_index", 0))
        losses = self.evaluate(engine, ops.concatenate([pop, trials], axis=0), x, y)
        parent_loss, trial_loss = losses[:p], losses[p:]
        take = trial_loss <= parent_loss  # greedy one-to-one selection (seed 003 [code]: <=)
        pop = ops.where(ops.convert_to_tensor(take)[:, None], trials, pop)
        kept = np.where(take, trial_loss, parent_loss)
        self._best_index = int(np.argmin(kept))''',
         tests=_cases("de", "de-best2", "de-curtobest1", "de-randtobest2")),
    # -- nDES ------------------------------------------------------------------------------------
    dict(id="pr-ndes-history-not-saved", mechanism="nDES: the history ring of selected points, shifts and paths",
         what="left out of extra_state (a resumed run starts with an empty history)",
         file=NDES, find="return {**self.state, **_history_arrays(self.slots)}", replace="return dict(self.state)",
         tests=_cases("ndes", "ndes-g", "ndes-b")),
    dict(id="pr-ndes-ring-position-not-restored", mechanism="nDES: the ring's write position (t mod history)",
         what="position kept in a counter outside the checkpoint (a resumed run writes from slot 0 again)",
         file=NDES, find='            self.slots[int(self.state["t"]) % self.history] = entry',
         replace='            self._ring = getattr(self, "_ring", 0) + 1  # writes since the ring filled\n'
                 '            self.slots[(self._ring - 1) % self.history] = entry',
         tests=_cases("ndes", "ndes-g", "ndes-b")),
    dict(id="pr-ndes-ring-reordered-on-load", mechanism="nDES: the history ring restored slot for slot",
         what="ring restored oldest-first, as a queue (slot indices and the write position no longer match)",
         file=NDES, find="[(hx[i], hs[i], hp[i]) for i in range(int(hx.shape[0]))]",
         replace="[(hx[i], hs[i], hp[i]) for i in np.roll(np.arange(int(hx.shape[0])), -(int(state['t']) % int(hx.shape[0])))]",
         tests=_cases("ndes", "ndes-g", "ndes-b")),
    dict(id="pr-ndes-ewma-reset-on-load", mechanism="nDES: the per-batch EWMA of the loss (fitness baseline, eqs. 4-5)",
         what="state key reset by load_extra_state (recomputed from the centre as at the start)",
         file=NDES, find="        self.state = state\n        self.slots = [] if hx",
         replace='        self.state = {**state, "ewma": np.zeros(0, dtype="float32")}\n        self.slots = [] if hx',
         tests=_cases("ndes", "ndes-b")),
]
