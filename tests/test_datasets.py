import numpy as np
import pytest
import tensorflow_datasets as tfds

from pipelines import config as configs
from pipelines.datasets import load_dataset, tfds_source
from pipelines.datasets.tfdata import augmenter, pipeline
from pipelines.errors import DataNotPrepared, UsageError


def data_cfg(*overrides):
    return configs.load_config("train", None, list(overrides)).data


def _rows(x):
    return {row.tobytes() for row in x.reshape(len(x), -1)}


def test_digits_splits_are_deterministic_disjoint_and_carved_from_train():
    a = load_dataset("digits", data_cfg())
    b = load_dataset("digits", data_cfg())
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 1797
    assert len(a.y_test) == 360 and len(a.y_val) == int(np.ceil(0.2 * 1437))  # sklearn rounds the held-out part up
    # indices are disjoint (digits has a few duplicate images, so compare by position)
    c = load_dataset("digits", data_cfg("data.split_seed=7"))
    assert not np.array_equal(a.y_val, c.y_val)
    assert a.kind == "digits" and a.input_shape == (8, 8, 1) and a.num_classes == 10
    # stratified: every class is in every split
    assert set(a.y_val) == set(a.y_test) == set(range(10))


def test_mnist5k_is_real_mnist_and_scaled_to_unit_range():
    d = load_dataset("mnist5k", data_cfg())
    assert d.input_shape == (28, 28, 1)
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 5000
    assert d.preprocess().scale == pytest.approx(1 / 255)


def test_natural_images_are_standardised_with_training_statistics_only():
    from pipelines.datasets.base import from_arrays

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (200, 4, 4, 3)).astype(np.uint8)
    y = np.repeat(np.arange(4), 50)
    d = from_arrays("toy", (x, y), None, list("abcd"), "natural", 255, 0.2, 0.2, 42)
    p = d.preprocess()
    np.testing.assert_allclose(p.mean, d.x_train.reshape(-1, 3).mean(axis=0), rtol=1e-6)
    out = p.layer()(d.x_train.astype("float32")).numpy()
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out.reshape(-1, 3).std(axis=0), 1, atol=1e-3)


def test_augmentation_shifts_digits_but_only_flips_natural_images():
    assert [type(l).__name__ for l in augmenter("shift", 0).layers] == ["RandomTranslation"]
    assert [type(l).__name__ for l in augmenter("shift_flip", 0).layers] == ["RandomTranslation", "RandomFlip"]
    assert augmenter("none", 0) is None
    x = np.zeros((8, 8, 8, 1), np.float32)
    x[:, :, :4] = 1.0
    batch, labels = next(iter(pipeline(x, np.arange(8), 8, training=True, augment="shift", seed=1)))
    assert batch.dtype.name == "float32" and labels.shape == (8,)
    assert not np.array_equal(batch.numpy(), x)          # shifted, so changed
    plain, _ = next(iter(pipeline(x, np.arange(8), 8)))   # evaluation: untouched
    np.testing.assert_array_equal(plain.numpy(), x)


def test_tfds_dataset_through_mock_data(monkeypatch):
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        d = load_dataset("cifar10", data_cfg())
    assert d.input_shape == (32, 32, 3) and d.kind == "natural" and d.num_classes == 10
    assert len(d.y_test) == 40 and len(d.y_train) + len(d.y_val) == 40


def test_tfds_dataset_without_data_fails_fast_with_guidance(tmp_path, monkeypatch):
    def no_download(*a, **k):
        raise AssertionError("must not start tfds' download retry loop")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    monkeypatch.setattr(tfds_source, "_reachable", lambda host, port: False)
    with pytest.raises(DataNotPrepared, match=r"not prepared in .*`automl datasets prepare cifar10"):
        load_dataset("cifar10", data_cfg(f"data.data_dir={tmp_path}"))
    with pytest.raises(DataNotPrepared, match="downloading is off"):
        load_dataset("mnist", data_cfg(f"data.data_dir={tmp_path}", "data.download=false"))


def test_unknown_and_non_image_datasets():
    with pytest.raises(UsageError, match="unknown dataset 'nope'.*digits, mnist5k"):
        load_dataset("nope", data_cfg())
    with pytest.raises(UsageError, match="not .*image-classification"):
        load_dataset("imdb_reviews", data_cfg())


def _write_images(root, classes=("cat", "dog"), n=6, size=(10, 12), mode="RGB"):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            shape = (*size, 3) if mode == "RGB" else size
            Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(root / c / f"{i}.png")


def test_image_folder_with_class_subfolders(tmp_path):
    _write_images(tmp_path / "pets")
    d = load_dataset(str(tmp_path / "pets"), data_cfg("data.image_size=[8, 8]"))
    assert d.class_names == ["cat", "dog"] and d.input_shape == (8, 8, 3) and d.kind == "natural"
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 12


def test_image_folder_with_train_and_test(tmp_path):
    _write_images(tmp_path / "g" / "train", mode="L")
    _write_images(tmp_path / "g" / "test", n=2, mode="L")
    d = load_dataset(str(tmp_path / "g"), data_cfg())
    assert len(d.y_test) == 4 and d.input_shape == (10, 12, 1) and d.kind == "digits"


def test_unreadable_image_folder_names_the_file(tmp_path):
    _write_images(tmp_path / "pets")
    (tmp_path / "pets" / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UsageError, match=r"cannot read image .*broken\.png"):
        load_dataset(str(tmp_path / "pets"), data_cfg())
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        load_dataset(str(tmp_path / "empty"), data_cfg())
