"""The architecture search of a survival run: Keras Tuner's random search over the net's depth and
widths, each trial scored by the validation patients' C-index (the thesis selected nothing; issue
#8 asks the architecture to be searchable). The chosen spec is then trained in full."""
from __future__ import annotations

import json

import keras
import keras_tuner as kt

from automl.callbacks import StopAtDeadline, StopOnNonFinite
from automl.seeds import keras_tuner_seed
from automl.survival.net import ValidationCIndex, build, compile_survival
from models.survival import SurvivalNetSpec

BASE_WIDTHS = (8, 16, 32)
DENSE_WIDTHS = (16, 64, 256)


def spec_from_hyperparameters(hp) -> SurvivalNetSpec:
    """Stages double their width every other stage (VGG's pattern); 2-5 stages of 1-2 convs."""
    stages, base, convs = hp.Int("stages", 2, 5), hp.Choice("base_width", list(BASE_WIDTHS)), hp.Int("convs", 1, 2)
    widths = [[base * 2 ** (s // 2)] * (1 if s < 2 else convs) for s in range(stages)]
    return SurvivalNetSpec(stages=widths, dense=[hp.Choice("dense", list(DENSE_WIDTHS))], name="survival-searched")


def search_architecture(analysis, run, data, deadline) -> SurvivalNetSpec:
    """The searched spec (`analysis`: an automl.SurvivalAnalysis whose `search` settings are set),
    kept in the run directory so a resumed run trains the same net."""
    store = run.path / "search" / "chosen.json"
    if store.exists():  # a resumed run keeps its searched architecture
        return SurvivalNetSpec.from_dict(json.loads(store.read_text()))
    (xt, yt, _), (xv, yv, val_rows) = data["train"], data["val"]
    settings, say, mode = analysis.search, analysis.say, analysis.slides.mode

    class HyperModel(kt.HyperModel):
        def build(self, hp):
            model, _ = build(analysis, xt.shape[1:], spec_from_hyperparameters(hp))
            compile_survival(model, analysis.training)
            return model

        def fit(self, hp, model, *args, callbacks=(), **kwargs):
            # The C-index callback runs before Keras Tuner's own, which reads `val_cindex` from the logs.
            return model.fit(*args, callbacks=[ValidationCIndex(mode, xv, val_rows), *callbacks], **kwargs)

    tuner = kt.RandomSearch(HyperModel(), objective=kt.Objective("val_cindex", "max"),
                            max_trials=settings.max_trials, seed=keras_tuner_seed(analysis.seed),
                            directory=str(run.path / "search"),
                            project_name="tuner", overwrite=False)
    say(f"searching the survival net: {settings.max_trials} random trials of {settings.epochs} epochs, "
        "scored by the validation C-index")
    tuner.search(xt, yt, batch_size=analysis.training.batch_size, epochs=settings.epochs, validation_data=(xv, yv),
                 callbacks=[StopOnNonFinite(), StopAtDeadline(deadline, final_passes=3.0)], verbose=0)
    best = tuner.oracle.get_best_trials(1)
    if not best or best[0].score is None:
        say("search: no trial scored; keeping the configured net")
        return SurvivalNetSpec.preset(analysis.net.arch)
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id):
        spec = spec_from_hyperparameters(trial.hyperparameters)
        say(f"  trial {trial.trial_id}: {spec.describe()}: validation C-index "
            f"{'-' if trial.score is None else f'{trial.score:.3f}'}")
    spec = spec_from_hyperparameters(best[0].hyperparameters)
    say(f"search chose {spec.describe()} (validation C-index {best[0].score:.3f}); training it in full")
    store.write_text(json.dumps(spec.to_dict()))
    keras.backend.clear_session(free_memory=False)
    return spec
