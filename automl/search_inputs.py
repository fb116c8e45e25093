"""The data a search trains and chooses on, made from what its caller gives `search()`: numpy
arrays or a tf.data.Dataset of (image, label) pairs (automl.data.image_data), or a dataset object
whose splits are made (the command line's image and sequence datasets); then its pipelines.

Light at import (TensorFlow loads when the pipelines are made).
"""
from __future__ import annotations

import typing
from dataclasses import dataclass


@dataclass
class SearchInputs:
    """A search's data and its batched pipelines.

    Args:
        data: the dataset (an automl.data.ImageDataset, or a sequence dataset with `task` and `per_step`).
        sequential: True for sequences (no preprocessing or augmentation; the recurrent space).
        regression: True for a sequence regression task (MSE; lower validation loss wins).
        augment: the augmentation of the training pipeline ("none" for sequences).
        train: the shuffled, augmented training batches.
        val: the validation batches, the only ones anything is chosen on.
        test: the test batches, for reporting; None when there is no test split.
        preprocess: the images' preprocessing, inside every model (None for sequences).
    """

    data: object
    sequential: bool
    regression: bool
    augment: str
    train: object
    val: object
    test: object
    preprocess: object

    @property
    def per_step(self) -> bool:
        """A sequence task with one output per step (the model keeps the time axis)."""
        return self.sequential and self.data.per_step

    def check_space(self, owner, space_name: str) -> None:
        """The search space fits the data: the recurrent space for sequences, an image space for
        images (`owner`: the settings object whose `space` argument is named in the error)."""
        fits = self.sequential == (space_name == "recurrent")
        images = ", ".join(repr(s) for s in typing.get_args(type(owner).types()["space"]) if s != "recurrent")
        owner.check("space", owner.space, fits, "'recurrent' for sequences" if self.sequential else
                    f"one of {images} for images")

    @property
    def num_classes(self) -> int | None:
        """The classes of a classification task; None for regression."""
        return None if self.regression else self.data.num_classes


def search_inputs(x, y=None, validation_data=None, validation_split: float | None = None, test_data=None, *,
                  batch_size: int, augment: str, seed: int) -> SearchInputs:
    """The dataset from `search()`'s arguments (see automl.ResBuilder.search) and its pipelines,
    seeded by `seed` (the splits keep their own fixed seed)."""
    import keras

    from automl.data import ImageDataset, image_data
    from automl.task import task_of
    from automl.tfdata import split_pipelines

    if x is None:
        raise ValueError("search() needs the training data x (and its labels y)")
    data = x if hasattr(x, "x_train") else image_data(x, y, validation_data, validation_split, test_data)
    sequential = not isinstance(data, ImageDataset)
    augment = "none" if sequential else data.augment(augment)
    keras.utils.set_random_seed(seed)
    train, val, test = split_pipelines(data, batch_size, augment, seed)
    return SearchInputs(data=data, sequential=sequential, regression=task_of(data).regression,
                        augment=augment, train=train, val=val, test=test if len(data.y_test) else None,
                        preprocess=None if sequential else data.preprocess())
