import numpy as np

from conftest import tiny_spec
from models import Block, build_model, transfer_weights


def test_transfer_copies_same_name_and_shape_and_keeps_the_rest():
    spec = tiny_spec()
    source = build_model(spec, (8, 8, 1), 10)
    changed = spec.copy()
    changed.stages[1].blocks[0].filters = 12          # block 1 and the head change shape
    changed.stages[0].blocks.append(Block(changed.next_block_id(), 6, inserted=True))
    target = build_model(changed, (8, 8, 1), 10)
    fresh = {l.name: [w.copy() for w in l.get_weights()] for l in target.layers}

    report = transfer_weights(source, target)

    assert "stem_conv" in report.copied and "block0_conv1" in report.copied
    assert {"block1_conv2", "head_out"} <= set(report.skipped)
    assert "block1_conv1" in report.copied          # its own width (mid_filters) did not change
    np.testing.assert_array_equal(target.get_layer("block0_conv2").get_weights()[0],
                                  source.get_layer("block0_conv2").get_weights()[0])
    for name in ("block1_conv2", "block2_conv1"):  # changed and new layers keep their init
        np.testing.assert_array_equal(target.get_layer(name).get_weights()[0], fresh[name][0])
    assert 0 < report.fraction < 1
