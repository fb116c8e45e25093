"""Weight transfer by layer name and shape (models/transfer.py): what is copied, what is skipped, exact values."""
import keras
import numpy as np
import pytest

from conftest import randomised, tiny_spec
from models import Block, build_model, count, transfer_weights


def test_transfer_copies_same_name_and_shape_and_keeps_the_rest():
    spec = tiny_spec()
    source = randomised(build_model(spec, (8, 8, 1), 10), seed=1)
    changed = spec.copy()
    changed.stages[1].blocks[0].filters = 12          # block 1 and the head change shape
    changed.stages[0].blocks.append(Block(changed.next_block_id(), 6, inserted=True))
    keras.utils.set_random_seed(0)
    target = build_model(changed, (8, 8, 1), 10)
    fresh = {l.name: [w.copy() for w in l.get_weights()] for l in target.layers}

    report = transfer_weights(source, target)

    # block1_conv1 keeps its shape (its own width, mid_filters = 5, did not change); the new block2
    # exists only in the target; block1's second conv, its BN, its projection and the head widen to 12.
    copied = ["stem_conv", "stem_bn", "block0_conv1", "block0_bn1", "block0_conv2", "block0_bn2",
              "block1_conv1", "block1_bn1"]
    assert report.copied == copied
    assert report.skipped == ["block1_conv2", "block1_bn2", "block1_proj", "head_out"]
    for layer in target.layers:
        expected = source.get_layer(layer.name).get_weights() if layer.name in copied else fresh[layer.name]
        for got, want in zip(layer.get_weights(), expected, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=layer.name)
    # Copied weights: stem 3*3*1*4 + BN 4*4, block0 3*3*4*6 + 4*6 + 3*3*6*6 + 4*6, block1_conv1 3*3*6*5 + 4*5
    # = 36 + 16 + 216 + 24 + 324 + 24 + 270 + 20 = 930, of all the target's weights (its exact count).
    assert report.copied_weights == 930
    assert report.total_weights == count(changed, (8, 8, 1), 10).params == 2416
    assert report.fraction == pytest.approx(930 / 2416, rel=1e-12)


def test_transfer_between_identical_specs_copies_everything():
    source = randomised(build_model(tiny_spec(), (8, 8, 1), 10), seed=2)
    target = build_model(tiny_spec(), (8, 8, 1), 10)
    report = transfer_weights(source, target)
    assert report.skipped == [] and report.fraction == 1.0
    x = np.random.default_rng(0).uniform(0, 16, (4, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(target(x, training=False).numpy(), source(x, training=False).numpy())
