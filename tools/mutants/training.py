"""Mutations of training (seed 000 eq. 5 and L1230: the DMU rule; seed 002's training defaults;
the wall-clock budget and resumable runs): see tools/mutations.py."""

BUDGET = "tests/test_training_budget.py::"
RULES = "tests/test_training_rules.py::"
PIPELINE_BUDGET = BUDGET + "test_train_stops_where_the_reserve_of_one_validation_and_one_test_pass_begins"
RESUME = RULES + "test_a_killed_and_resumed_run_ends_where_an_uninterrupted_run_ends"
ONE_STEP = RULES + "test_automl_train_moves_the_dmu_by_lr_over_2n_and_the_head_by_lr_in_one_adam_step"

MUTATIONS = [
    # -- the budget's reserve for finalising ---------------------------------------------------
    dict(id="tr-reserve-ignored", mechanism="budget: work stops when only the reserve is left",
         what="term dropped", file="automl/budget.py",
         find="return self.left() - self.reserve", replace="return self.left()",
         tests=[BUDGET + "test_work_stops_when_only_the_reserve_is_left_though_the_budget_is_not_spent"]),
    dict(id="tr-expired-strict", mechanism="budget: work stops when only the reserve is left",
         what="comparison off by its boundary", file="automl/budget.py",
         find="if self.work_left() <= 0:", replace="if self.work_left() < 0:",
         tests=[BUDGET + "test_work_stops_when_only_the_reserve_is_left_though_the_budget_is_not_spent"]),
    dict(id="tr-reserve-base-dropped", mechanism="StopAtDeadline: reserve = base + final_passes x pass seconds",
         what="term dropped", file="automl/callbacks.py",
         find="self.base + self.final_passes * (time.perf_counter() - self._eval_start)",
         replace="self.final_passes * (time.perf_counter() - self._eval_start)",
         tests=[BUDGET + "test_each_complete_pass_sets_the_reserve_to_base_plus_final_passes_times_its_seconds"]),
    dict(id="tr-reserve-max-min", mechanism="StopAtDeadline: reserve = base + final_passes x pass seconds",
         what="max swapped for min", file="automl/callbacks.py",
         find="self.deadline.reserve = max(self.deadline.reserve,",
         replace="self.deadline.reserve = min(self.deadline.reserve,",
         tests=[BUDGET + "test_each_complete_pass_sets_the_reserve_to_base_plus_final_passes_times_its_seconds",
                PIPELINE_BUDGET]),
    dict(id="tr-train-final-passes", mechanism="automl train keeps back a validation and a test pass",
         what="term dropped (the final validation pass)", file="pipelines/train.py",
         find="StopAtDeadline(deadline, final_passes=1 + len(data.y_test) / max(len(data.y_val), 1))",
         replace="StopAtDeadline(deadline, final_passes=len(data.y_test) / max(len(data.y_val), 1))",
         tests=[PIPELINE_BUDGET]),
    # -- the DMU learning-rate rule and weight decay (seed 000 eq. 5, L1230) -----------------------
    dict(id="tr-dmu-rule-unwired", mechanism="DMU learning rate beta / (2n) in automl train",
         what="wire cut", file="pipelines/train.py",
         find="rule = lr_multipliers(model) if cfg.model.lr_rule else None", replace="rule = None",
         tests=[ONE_STEP]),
    dict(id="tr-dmu-rule-n", mechanism="DMU learning rate beta / (2n) in automl train",
         what="factor 2 dropped", file="models/recurrent.py",
         find="return 1.0 / (2 * self.depth)", replace="return 1.0 / self.depth",
         tests=[ONE_STEP]),
    dict(id="tr-dmu-rule-inverted", mechanism="DMU learning rate beta / (2n) in automl train",
         what="factor inverted (beta * 2n)", file="automl/optimizers/scaled.py",
         find="learning_rate = learning_rate * scale", replace="learning_rate = learning_rate / scale",
         tests=[ONE_STEP]),
    dict(id="tr-dmu-decay-n", mechanism="DMU weight decay / (2n)", what="factor 2 dropped",
         file="models/sequence.py", find="decay = l2 / (2 * spec.depth) if", replace="decay = l2 / spec.depth if",
         tests=[RULES + "test_the_dmu_weight_decay_is_divided_by_2n_under_the_rule"]),
    dict(id="tr-dmu-rule-lost-on-reload", mechanism="DMU learning rate beta / (2n) after a reload (resume)",
         what="the cell's fixed name dropped (Keras numbers it per process)", file="models/recurrent.py",
         find="self.cell_class(units, name=self.cell_name, **cell_kwargs)",
         replace="self.cell_class(units, **cell_kwargs)",
         tests=["tests/test_recurrent.py::test_a_reloaded_dmu_keeps_its_learning_rate_rule_whatever_was_built_before",
                RESUME]),
    # -- best epoch of a regression run ------------------------------------------------------
    dict(id="tr-checkpoint-mode-ignored", mechanism="Checkpointer mode min: lowest val_loss is best",
         what="argument ignored", file="automl/callbacks.py",
         find='self.sign = 1.0 if mode == "max" else -1.0', replace="self.sign = 1.0",
         tests=[RULES + "test_checkpointer_in_min_mode_saves_the_lowest_loss_and_keeps_that_mode_on_resume"]),
    dict(id="tr-train-regression-max", mechanism="Checkpointer mode min: lowest val_loss is best",
         what="wire cut (mode not passed)", file="pipelines/train.py",
         find="monitor=task.monitor, mode=task.mode)", replace='monitor=task.monitor, mode="max")',
         tests=[RULES + "test_a_regression_run_keeps_the_epoch_of_the_lowest_validation_loss"]),
    # -- gradient resume: weights and optimizer state --------------------------------------------
    dict(id="tr-resume-fresh-weights", mechanism="resume restores the weights", what="condition flipped",
         file="pipelines/train.py", find="if state is not None and last.exists():",
         replace="if state is None and last.exists():", tests=[RESUME]),
    dict(id="tr-resume-fresh-optimizer", mechanism="resume restores the optimizer state",
         what="recompiled after loading", file="pipelines/train.py",
         find="            model = load_model(last)\n",
         replace="            model = load_model(last)\n"
                 "            compile_classifier(model, cfg.train, regression=regression,\n"
                 "                               multipliers=lr_multipliers(model) if sequential else None)\n",
         tests=[RESUME]),
]
