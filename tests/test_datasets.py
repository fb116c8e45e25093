import numpy as np
import pytest
import tensorflow_datasets as tfds

from automl.errors import DataNotPrepared, UsageError
from pipelines import config as configs
from pipelines.datasets import load_dataset, tfds_source
from automl.tfdata import augmenter, pipeline


def data_cfg(*overrides):
    return configs.load_config("train", None, list(overrides)).data


def _labelled_rows(x, y):
    """One bytes string per sample: its pixels and its label (a list, so duplicates count)."""
    table = np.concatenate([x.reshape(len(x), -1).astype(np.float32), np.reshape(y, (-1, 1)).astype(np.float32)], 1)
    return [row.tobytes() for row in table]


def test_digits_splits_are_deterministic_disjoint_and_carved_from_train():
    a = load_dataset("digits", data_cfg())
    b = load_dataset("digits", data_cfg())
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 1797
    # sklearn rounds the held-out part up: test ceil(0.2 * 1797) = 360, validation ceil(0.2 * 1437) = 288
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (1149, 288, 360)
    # disjoint and complete: the three splits hold every image exactly once (digits has a few duplicate
    # images, so compare the multisets of (image, label) rows)
    from pipelines.datasets.bundled import digits

    x, y = digits()
    splits = [(a.x_train, a.y_train), (a.x_val, a.y_val), (a.x_test, a.y_test)]
    assert sorted(r for xs, ys in splits for r in _labelled_rows(xs, ys)) == sorted(_labelled_rows(x, y))
    c = load_dataset("digits", data_cfg("data.split_seed=7"))
    assert not np.array_equal(a.y_val, c.y_val)
    assert a.kind == "digits" and a.input_shape == (8, 8, 1) and a.num_classes == 10
    # stratified: every class is in every split
    assert set(a.y_val) == set(a.y_test) == set(range(10))


def _indexed(n_per_class, classes):
    """Images whose one pixel is the sample's index, so every split can be traced back to the source."""
    x = np.arange(n_per_class * classes, dtype=np.float32).reshape(-1, 1, 1, 1)
    return x, np.repeat(np.arange(classes), n_per_class)


def test_splits_carve_test_then_validation_with_their_own_fractions_stratified_and_seeded():
    from automl.data import from_arrays

    x, y = _indexed(40, 4)   # 160 samples, 40 per class
    d = from_arrays("toy", (x, y), None, list("abcd"), "digits", 255, validation_split=0.1, test_split=0.25,
                    split_seed=3)
    # test: 0.25 * 160 = 40 (10 per class); validation: 0.1 of the remaining 120 = 12 (3 per class); train 108
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (108, 12, 40)
    for labels, per_class in ((d.y_train, 27), (d.y_val, 3), (d.y_test, 10)):
        assert np.bincount(labels, minlength=4).tolist() == [per_class] * 4
    index = [part.reshape(-1).astype(int) for part in (d.x_train, d.x_val, d.x_test)]
    assert sorted(np.concatenate(index).tolist()) == list(range(160))      # disjoint and complete
    for idx, labels in zip(index, (d.y_train, d.y_val, d.y_test)):
        np.testing.assert_array_equal(labels, y[idx])                     # every label stays with its image
    again = from_arrays("toy", (x, y), None, list("abcd"), "digits", 255, 0.1, 0.25, 3)
    other = from_arrays("toy", (x, y), None, list("abcd"), "digits", 255, 0.1, 0.25, 4)
    np.testing.assert_array_equal(again.x_val, d.x_val)                   # the split seed fixes the splits
    np.testing.assert_array_equal(again.x_test, d.x_test)
    assert set(other.x_test.reshape(-1).tolist()) != set(d.x_test.reshape(-1).tolist())
    # a source with its own test split keeps it whole and carves only validation out of train
    given = from_arrays("toy", (x, y), (x[:8], y[:8]), list("abcd"), "digits", 255, 0.1, 0.25, 3)
    assert (len(given.y_train), len(given.y_val)) == (144, 16)
    np.testing.assert_array_equal(given.x_test, x[:8])


def test_digits_are_scaled_by_their_pixel_maximum():
    d = load_dataset("digits", data_cfg())
    assert d.preprocess().scale == 1 / 16          # sklearn digits are 0..16, seed 002 §6.1.5: scaled to [0, 1]
    out = d.preprocess().layer()(np.array([[0.0, 4.0], [8.0, 16.0]], "float32").reshape(1, 2, 2, 1)).numpy()
    np.testing.assert_allclose(out.reshape(-1), [0.0, 0.25, 0.5, 1.0], rtol=1e-7)


def test_mnist5k_is_real_mnist_and_scaled_to_unit_range():
    d = load_dataset("mnist5k", data_cfg())
    assert d.input_shape == (28, 28, 1)
    # 500 per class: test 1000 (100 per class, stratified), validation 800 (80 per class), train 3200
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (3200, 800, 1000)
    assert np.bincount(d.y_test).tolist() == [100] * 10 and np.bincount(d.y_val).tolist() == [80] * 10
    assert d.x_train.max() == 255 and d.x_train.dtype == np.uint8
    assert d.preprocess().scale == pytest.approx(1 / 255)


def test_natural_images_are_standardised_with_training_statistics_only():
    from automl.data import from_arrays

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
    # Images whose left half (columns 0-3) is 1: a shift of dx pixels (|dx| <= 10% of 8 = 0.8, filled with
    # the nearest pixel) leaves 4 + dx in every row; a horizontal flip moves the ones to the right half.
    x = np.zeros((32, 8, 8, 1), np.float32)
    x[:, :, :4] = 1.0
    batch, labels = next(iter(pipeline(x, np.arange(32), 32, training=True, augment="shift", seed=1)))
    assert batch.dtype.name == "float32" and labels.shape == (32,)
    rows = batch.numpy()[..., 0].sum(axis=2)                               # (image, row) sums
    assert rows.min() >= 3.2 - 1e-5 and rows.max() <= 4.8 + 1e-5
    assert np.abs(rows - 4).max() > 0.5                                     # shifted, not a no-op
    left, right = batch.numpy()[:, :, :4].mean(axis=(1, 2, 3)), batch.numpy()[:, :, 4:].mean(axis=(1, 2, 3))
    assert np.all(left > right)                                             # digits are never mirrored
    flipped, _ = next(iter(pipeline(x, np.arange(32), 32, training=True, augment="shift_flip", seed=1)))
    mirrored = (flipped.numpy()[:, :, :4].mean(axis=(1, 2, 3)) < flipped.numpy()[:, :, 4:].mean(axis=(1, 2, 3)))
    assert 0 < mirrored.sum() < 32                                          # natural images: some flipped
    plain, _ = next(iter(pipeline(x, np.arange(32), 32)))   # evaluation: untouched
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
    # 12 images: test ceil(0.2 * 12) = 3, validation ceil(0.2 * 9) = 2, train 7
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (7, 2, 3)


def test_image_folder_with_train_and_test(tmp_path):
    _write_images(tmp_path / "g" / "train", mode="L")
    _write_images(tmp_path / "g" / "test", n=2, mode="L")
    d = load_dataset(str(tmp_path / "g"), data_cfg())
    assert len(d.y_test) == 4 and d.input_shape == (10, 12, 1) and d.kind == "digits"
    assert (len(d.y_train), len(d.y_val)) == (9, 3)     # validation ceil(0.2 * 12) = 3 of train/ only


def test_unreadable_image_folder_names_the_file(tmp_path):
    _write_images(tmp_path / "pets")
    (tmp_path / "pets" / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UsageError, match=r"cannot read image .*broken\.png"):
        load_dataset(str(tmp_path / "pets"), data_cfg())
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        load_dataset(str(tmp_path / "empty"), data_cfg())
