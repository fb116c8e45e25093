"""Keras Tuner as its users have it: RandomSearch or Hyperband over the usual small-CNN space of
its tutorials, given a wall-clock budget (issue #18's peer).

The space: 1-4 conv blocks (filters 16-128, kernel 3 or 5, optional batch normalisation, 2x2
max pooling), then an optional dense layer (0-256 units) with dropout, and a log-uniform Adam
learning rate. Keras Tuner has no time limit: its oracle gets a deadline (no trial starts after
it) and a callback stops the running trial's training at its next batch after it, as ours do, so
the two compare at the same wall time; its overshoot is what is left (the best model's reload and
its test).
"""
from __future__ import annotations

import time
from pathlib import Path


def small_cnn(hp, input_shape, num_classes: int, preprocess):
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = preprocess.layer()(inputs)
    for i in range(hp.Int("conv_blocks", 1, 4)):
        x = layers.Conv2D(hp.Int(f"filters_{i}", 16, 128, step=16), hp.Choice(f"kernel_{i}", [3, 5]),
                          padding="same", activation=None)(x)
        if hp.Boolean(f"batch_norm_{i}"):
            x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        if x.shape[1] >= 2 and x.shape[2] >= 2:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    dense = hp.Int("dense", 0, 256, step=64)
    if dense:
        x = layers.Dense(dense, activation="relu")(x)
    x = layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1))(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def flops_of(model) -> int:
    """Multiply-adds of the conv and dense layers, counted as our FLOPs are (2 per multiply-add)."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            h, w, c_out = layer.output.shape[1:]
            c_in = layer.input.shape[-1]
            total += 2 * h * w * c_out * c_in * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return int(total)


def run(tuner_name: str, data, budget_s: float, epochs: int, batch_size: int, work: Path, seed: int) -> dict:
    """One search of `tuner_name` ("random" or "hyperband") for `budget_s` seconds."""
    import keras
    import keras_tuner as kt

    from automl.tfdata import split_pipelines

    deadline = time.time() + budget_s
    preprocess = data.preprocess()

    def build(hp):
        return small_cnn(hp, data.input_shape, data.num_classes, preprocess)

    def timed(oracle_class):
        class Timed(oracle_class):
            def populate_space(self, trial_id):
                if time.time() >= deadline:
                    return {"status": "STOPPED", "values": None}
                return super().populate_space(trial_id)
        return Timed

    class StopAtDeadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if time.time() >= deadline:
                self.model.stop_training = True

    objective = kt.Objective("val_accuracy", "max")
    if tuner_name == "random":
        oracle = timed(kt.oracles.RandomSearchOracle)(objective=objective, max_trials=10_000, seed=seed)
    else:
        oracle = timed(kt.oracles.HyperbandOracle)(objective=objective, max_epochs=4 * epochs, factor=3,
                                                   hyperband_iterations=100, seed=seed)
    tuner = kt.Tuner(oracle=oracle, hypermodel=build, directory=str(work), project_name=f"kt-{tuner_name}",
                     overwrite=True)
    train, val, test_ds = split_pipelines(data, batch_size, data.augment("none"), seed)
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    tuner.search(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[StopAtDeadline()])
    best = tuner.get_best_models(1)[0]
    test = best.evaluate(test_ds, return_dict=True, verbose=0)
    wall = time.perf_counter() - started
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED" and t.score is not None]
    return {"test_accuracy": float(test["accuracy"]), "val_accuracy": float(max(t.score for t in trials)),
            "params": int(best.count_params()), "flops": flops_of(best), "architectures": len(trials),
            "wall_seconds": wall}
