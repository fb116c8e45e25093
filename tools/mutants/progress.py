"""Mutations of what a user sees while a run works (issue #19: honest ETAs): see tools/mutations.py."""

MUTATIONS = [
    dict(id="pg-eta-first-epoch", mechanism="the training ETA leaves out the first epoch (graph tracing)",
         what="first epoch averaged in", file="automl/callbacks.py",
         find="times = times[1:] if len(times) > 1 else times", replace="times = times",
         tests=["tests/test_training_budget.py::test_the_eta_leaves_out_the_first_epoch_and_follows_the_recent_ones"]),
    dict(id="pg-eta-recent", mechanism="the training ETA follows the recent epochs",
         what="every epoch averaged", file="automl/callbacks.py",
         find="window = times[-recent:]", replace="window = times",
         tests=["tests/test_training_budget.py::test_the_eta_leaves_out_the_first_epoch_and_follows_the_recent_ones"]),
    dict(id="pg-search-eta-rounds", mechanism="ResBuilder's search ETA counts the schedule's architectures left",
         what="the final MorphNet net forgotten", file="automl/resbuilder/search.py",
         find='return max((self._morph_steps() - s["m"]) * (self.cfg.insertions + 1) - s["t"] + 1, 1)',
         replace='return max((self._morph_steps() - s["m"]) * (self.cfg.insertions + 1) - s["t"], 1)',
         tests=["tests/test_resbuilder_engine.py::test_the_search_eta_counts_the_architectures_the_schedule_has_left"]),
    dict(id="pg-search-eta-budget", mechanism="ResBuilder's search ETA is capped by the budget",
         what="cap dropped", file="automl/resbuilder/search.py",
         find="if self._filling() or seconds >= self.deadline.work_left():", replace="if self._filling():",
         tests=["tests/test_resbuilder_engine.py::test_the_search_eta_counts_the_architectures_the_schedule_has_left"]),
]
