"""How a named dataset is loaded and split, and how its batches are made: the one definition of
the `data:` section of `automl train` and `automl search` (see automl.settings).

The Python API takes arrays, so only some of these reach it: `validation_split`, `split_seed`,
`batch_size` and `augment` are also the defaults of `search()`'s arguments of those names.

Light on purpose (no TensorFlow): the command line validates `data.*` with this class.
"""
from __future__ import annotations

from typing import Literal

from automl.settings import AUGMENTS, SEED_RULE, Settings, is_int, is_seed


class DataSettings(Settings):
    """The data of a run (seed 002's code as quoted in reference §2a.10 and §2a.12, unless marked).

    Args:
        data_dir: the tensorflow-datasets data dir (None: tfds' default, ~/tensorflow_datasets).
        download: download a tfds dataset when it is not prepared and the host is reachable.
        validation_split: the share of the training data held out for validation ([code] 20%, ref §2a.10).
        test_split: the share held out for testing, for datasets without an official test split ([code] 80/20 split, ref §2a.12).
        split_seed: the seed of those splits, fixed so that splits never move between runs ([code] seed 42, ref §2a.10, §2a.12).
        batch_size: the batch size of training ([code] 128 for MNIST, FashionMNIST, EMNIST, CIFAR; ref §2a.10).
        augment: auto (seed 002 §6.1.1.2: 10% shifts and horizontal flips for natural images, shifts only for digit-like ones; none when `automl train` uses phs or phs-go, as seed 002's port-Hamiltonian study trained, L698-734), none, shift or shift_flip.
        image_size: [height, width] of an image folder's images (None: the size of the first image).
        sequence_length: the minimum length of the synthetic sequence tasks (seed 000 Table X: 100).
        sequence_sizes: [train, validation, test] sequences of a synthetic task (seed 000 [code]: 200 batches of 32 per epoch, 1,000 validation; test 2,000, where the code's 10,000 is slow on a CPU).
    """

    def __init__(self, *, data_dir: str | None = None, download: bool = True, validation_split: float = 0.2,
                 test_split: float = 0.2, split_seed: int = 42, batch_size: int = 128,
                 augment: Literal[AUGMENTS] = "auto", image_size: list[int] | None = None,
                 sequence_length: int = 100, sequence_sizes: list[int] = (6400, 1000, 2000)):
        self.check("data_dir", data_dir, data_dir is None or isinstance(data_dir, str), "a folder path or None")
        self.check_bool("download", download)
        for name, value in (("validation_split", validation_split), ("test_split", test_split)):
            self.check_unit(name, value, low_open=True, high_open=True)
        self.check("split_seed", split_seed, is_seed(split_seed), SEED_RULE)
        self.check_count("batch_size", batch_size, 1)
        self.check_choice("augment", augment, AUGMENTS)
        self.check("image_size", image_size, image_size is None or (
            len(image_size) == 2 and all(is_int(v) and v >= 1 for v in image_size)), "[height, width] or None")
        self.check_count("sequence_length", sequence_length, 2)
        self.check("sequence_sizes", sequence_sizes, len(sequence_sizes) == 3 and all(
            is_int(v) and v >= 1 for v in sequence_sizes), "[train, validation, test], each an integer >= 1")
        self.data_dir, self.download = data_dir, download
        self.validation_split, self.test_split = float(validation_split), float(test_split)
        self.split_seed, self.batch_size, self.augment = split_seed, batch_size, augment
        self.image_size = None if image_size is None else list(image_size)
        self.sequence_length, self.sequence_sizes = sequence_length, list(sequence_sizes)
