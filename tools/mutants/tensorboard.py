"""Mutations of TensorBoard logging in every run kind (issue #19): see tools/mutations.py."""

T = "test_tiny_resbuilder_run_records_chooses_on_validation_and_exports"

MUTATIONS = [
    dict(id="tb-resbuilder", mechanism="ResBuilder writes a TensorBoard run per training",
         what="no TensorBoard", file="automl/resbuilder/api.py",
         find="epoch_callbacks=lambda label: [tensorboard(run.path, label), *(",
         replace="epoch_callbacks=lambda label: [*(",
         tests=["tests/test_search.py::" + T]),
    dict(id="tb-evolution", mechanism="the evolution writes a TensorBoard run per trained trial",
         what="no TensorBoard", file="automl/evolution/api.py",
         find="self.epoch_callbacks = lambda label, epochs: [tensorboard(run.path, label),",
         replace="self.epoch_callbacks = lambda label, epochs: [",
         tests=["tests/test_evolution_run.py::test_serial_search_logs_every_trial_and_exports_its_best"]),
    dict(id="tb-tuners", mechanism="Keras Tuner's strategies write a TensorBoard run per trial",
         what="no TensorBoard", file="automl/tuning.py",
         find="callbacks=[StopOnNonFinite(), tensorboard(run.path)]", replace="callbacks=[StopOnNonFinite()]",
         tests=["tests/test_tuners_api.py::test_each_tuner_searches_numpy_arrays_into_a_run_directory_the_cli_reads"]),
    dict(id="tb-population", mechanism="population training writes best and mean loss per generation",
         what="no scalars", file="pipelines/population.py",
         find='scalars.write(record["generation"], ', replace='(lambda *args: None)(record["generation"], ',
         tests=["tests/test_population_cli.py::test_de_trains_the_default_mlp_and_exports"]),
    dict(id="tb-survival", mechanism="survival writes the validation C-index per epoch to TensorBoard",
         what="no TensorBoard", file="automl/survival/workflow.py",
         find="                 tensorboard(run.path)]  # after the C-index callback",
         replace="                 ]  # after the C-index callback",
         tests=["tests/test_survival.py::test_demo_pipeline_end_to_end_and_export"]),
    dict(id="tb-survival-order", mechanism="survival writes the validation C-index per epoch to TensorBoard",
         what="TensorBoard before the C-index callback", file="automl/survival/workflow.py",
         find="    callbacks = [stopper, StopOnNonFinite(), ValidationCIndex(analysis.slides.mode, xv, val_rows), checkpointer,\n                 tensorboard(run.path)]",
         replace="    callbacks = [stopper, StopOnNonFinite(), tensorboard(run.path), ValidationCIndex(analysis.slides.mode, xv, val_rows), checkpointer,\n                 ]",
         tests=["tests/test_survival.py::test_demo_pipeline_end_to_end_and_export"]),
]
