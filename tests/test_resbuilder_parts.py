"""ResBuilder's mechanisms (seed 002 Ch. 4): each test fails if its mechanism breaks."""
import math

import keras
import numpy as np
import pytest

from automl.resbuilder.growth import (blocks_to_remove, init_near_identity, insert_random_block,
                                      mean_abs_weights, remove_blocks, width_before)
from automl.resbuilder.morph import (Collapse, alive_channels, conv_groups, fit_to_budget, morph_widths,
                                     morphnet_penalty, with_widths)
from models import Block, Pool, ResNetSpec, Stage, build_model, count, transfer_weights
from models.spec import block_layer
from models.zoo import rb_0net

SHAPE = (8, 8, 1)


def _net():
    return ResNetSpec(stem_filters=8, stages=[Stage(blocks=[Block(0, 8)]), Stage(pool=Pool("max"), blocks=[Block(1, 12)])])


def _grown_pair(mean_abs):
    spec = _net()
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    old = build_model(spec, SHAPE, 10)
    grown, new_id = insert_random_block(spec, rng, {spec.signature()})
    new = build_model(grown, SHAPE, 10)
    report = transfer_weights(old, new)
    init_near_identity(new, new_id, mean_abs, rng)
    x = np.random.default_rng(1).uniform(0, 1, (16, *SHAPE)).astype("float32")
    return old, new, report, new_id, x


def test_insertion_at_zero_init_leaves_the_outputs_unchanged():
    old, new, report, new_id, x = _grown_pair(0.0)
    np.testing.assert_allclose(new.predict(x, verbose=0), old.predict(x, verbose=0), atol=1e-6)
    new_layers = {l.name for l in new.layers if l.weights and l.name.startswith(f"block{new_id}_")}
    assert set(report.copied) == {l.name for l in new.layers if l.weights} - new_layers   # all old weights kept


def test_insertion_at_1e_2_init_changes_the_outputs_only_slightly():
    old, new, _, new_id, x = _grown_pair(1e-2)
    kernel = new.get_layer(block_layer(new_id, "conv1")).kernel.numpy()
    assert np.mean(np.abs(kernel)) == pytest.approx(1e-2, rel=0.15)
    diff = np.abs(new.predict(x, verbose=0) - old.predict(x, verbose=0)).max()
    assert 0 < diff < 1e-2


def test_near_identity_init_draws_both_convs_from_a_normal_with_mean_abs_1e_2():
    # E|w| of N(0, s^2) is s * sqrt(2 / pi), so E|w| = 1e-2 needs s = 1e-2 * sqrt(pi / 2) = 0.012533
    spec = ResNetSpec(stem_filters=16, stages=[Stage(blocks=[Block(0, 16, inserted=True)])])
    model = build_model(spec, SHAPE, 10)
    init_near_identity(model, 0, 1e-2, np.random.default_rng(5))
    again = np.random.default_rng(5)                    # the same draws, conv1 first, then conv2
    for part in ("conv1", "conv2"):
        kernel = model.get_layer(block_layer(0, part)).kernel.numpy()
        np.testing.assert_allclose(kernel, again.normal(0.0, 0.012533141373155, kernel.shape), rtol=1e-6)
        assert np.mean(np.abs(kernel)) == pytest.approx(1e-2, rel=0.03)   # 2,304 draws: 1.1% std. error


def test_insertion_takes_the_width_before_it_and_covers_every_stage_and_position():
    spec = _net()
    assert width_before(spec, 0, 0) == 8 and width_before(spec, 1, 0) == 8 and width_before(spec, 1, 1) == 12
    rng = np.random.default_rng(0)
    places = set()
    for _ in range(200):
        grown, new_id = insert_random_block(spec, rng, set())
        for s, stage in enumerate(grown.stages):
            for p, b in enumerate(stage.blocks):
                if b.id == new_id:
                    places.add((s, p))
                    assert b.inserted and b.filters == width_before(spec, s, p)
    assert places == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_insertion_never_repeats_a_trained_architecture():
    spec = rb_0net(filters=4, pooling_stages=1)            # 2 stages: 2 distinct single insertions
    rng = np.random.default_rng(0)
    seen = {spec.signature()}
    first, _ = insert_random_block(spec, rng, seen)
    seen.add(first.signature())
    for _ in range(20):
        again, _ = insert_random_block(spec, rng, seen)
        assert again.signature() not in seen
    other, _ = insert_random_block(spec, rng, seen)
    seen.add(other.signature())
    assert insert_random_block(spec, rng, seen) is None   # every option already trained


def test_removal_takes_exactly_the_inserted_blocks_below_tau_and_keeps_the_rest():
    spec = ResNetSpec(stem_filters=4, stages=[Stage(blocks=[
        Block(0, 4), Block(1, 4, inserted=True), Block(2, 4, inserted=True), Block(3, 4, inserted=True)])])
    model = build_model(spec, SHAPE, 10)
    rng = np.random.default_rng(0)
    scale = {0: (1e-5, 1e-5), 1: (5e-4, 5e-3), 2: (5e-3, 5e-3), 3: (5e-3, 2e-4)}   # mean |w| per conv
    for bid, (a, b) in scale.items():
        for part, target in (("conv1", a), ("conv2", b)):
            k = model.get_layer(block_layer(bid, part)).kernel
            k.assign(np.sign(rng.normal(size=k.shape)).astype("float32") * target)
    stats = mean_abs_weights(model, spec)
    assert stats[1]["conv1"] == pytest.approx(5e-4)
    removed = blocks_to_remove(spec, stats, tau=1e-3)
    assert removed == [1, 3]                  # block 0 is tiny but was not inserted: never removed
    pruned = remove_blocks(spec, removed)
    assert [b.id for b in pruned.blocks()] == [0, 2]
    smaller = build_model(pruned, SHAPE, 10)
    transfer_weights(model, smaller)
    for name in ("stem_conv", "block0_conv1", "block2_conv2", "head_out"):
        np.testing.assert_array_equal(smaller.get_layer(name).get_weights()[0], model.get_layer(name).get_weights()[0])


def test_layerlasso_penalises_block_convs_only():
    spec = _net()
    model = build_model(spec, SHAPE, 10, block_l1=0.5)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            expected = 0.5 * np.abs(layer.kernel.numpy()).sum() if "_conv" in layer.name and layer.name.startswith("block") else 0
            got = float(layer.kernel_regularizer(layer.kernel)) if layer.kernel_regularizer else 0.0
            assert got == pytest.approx(expected, rel=1e-5), layer.name
    assert model.get_layer("head_out").kernel_regularizer is None


def test_morphnet_regularizer_matches_a_hand_computation():
    spec = ResNetSpec(stem_filters=2, stages=[Stage(blocks=[Block(0, 2, mid_filters=3)])])
    model = build_model(spec, (4, 4, 1), 10)
    gammas = {"stem_bn": [0.5, 0.001], "block0_bn1": [0.2, 0.3, 0.0], "block0_bn2": [1.0, 0.02]}
    for name, g in gammas.items():
        model.get_layer(name).gamma.assign(np.array(g, "float32"))
    tau = 0.01
    groups = conv_groups(spec, (4, 4, 1), 10)
    # pair costs 2*k*k*H*W = 2*9*16 = 288 for every conv here (4x4, stride 1)
    assert [g.pair_cost for g in groups] == [288, 288, 288]
    stem = 288 * (1 * (0.5 + 0.001))                       # image input: 1 channel alive, no gamma
    conv1 = 288 * ((0.5 + 0.001) * 2 + 1 * (0.2 + 0.3))   # alive: stem 1 of 2, bn1 2 of 3
    conv2 = 288 * ((0.2 + 0.3) * 2 + 2 * (1.0 + 0.02))    # alive: bn1 2, bn2 2
    assert float(morphnet_penalty(model, groups, tau)) == pytest.approx(stem + conv1 + conv2, rel=1e-5)
    assert alive_channels(model, groups, tau) == {"stem_conv": 1, "block0_conv1": 2, "block0_conv2": 2}


def test_kappa_is_the_largest_that_respects_zeta():
    spec = _net()
    alive = {"stem_conv": 6, "block0_conv1": 5, "block0_conv2": 8, "block1_conv1": 3, "block1_conv2": 10}
    widths = morph_widths(spec, alive, intensity=1.0)
    assert widths["block1_conv2"] == 10
    for zeta in (2e5, 1e6, 5e6):
        morphed, kappa = fit_to_budget(spec, widths, zeta, SHAPE, 10)
        assert count(morphed, SHAPE, 10).flops <= zeta
        bigger = {k: max(1, math.floor(kappa * 1.05 * v)) for k, v in widths.items()}
        assert count(with_widths(spec, bigger), SHAPE, 10).flops > zeta   # 5% wider no longer fits


def test_intensity_blends_old_and_suggested_widths():
    # c* = (1 - I) c + I c' (seed 002 L1117) with I = 0.25; old widths 8 / 8, 8 / 12, 12
    spec = _net()
    alive = {"stem_conv": 6, "block0_conv1": 5, "block0_conv2": 8, "block1_conv1": 3, "block1_conv2": 10}
    assert morph_widths(spec, alive, intensity=0.25) == {
        "stem_conv": 0.75 * 8 + 0.25 * 6,        # 7.5
        "block0_conv1": 0.75 * 8 + 0.25 * 5,     # 7.25
        "block0_conv2": 0.75 * 8 + 0.25 * 8,     # 8
        "block1_conv1": 0.75 * 12 + 0.25 * 3,    # 9.75
        "block1_conv2": 0.75 * 12 + 0.25 * 10,   # 11.5
    }
    assert morph_widths(spec, alive, intensity=0.0) == {k: float(v) for k, v in
                                                        {"stem_conv": 8, "block0_conv1": 8, "block0_conv2": 8,
                                                         "block1_conv1": 12, "block1_conv2": 12}.items()}


def test_morph_removes_zeroed_blocks_and_reports_collapse():
    spec = _net()
    alive = {"stem_conv": 6, "block0_conv1": 0, "block0_conv2": 8, "block1_conv1": 3, "block1_conv2": 10}
    morphed, _ = fit_to_budget(spec, morph_widths(spec, alive, 1.0), 1e6, SHAPE, 10)
    assert [b.id for b in morphed.blocks()] == [1]
    with pytest.raises(Collapse, match="stem"):
        fit_to_budget(spec, morph_widths(spec, {**alive, "stem_conv": 0}, 1.0), 1e6, SHAPE, 10)
    with pytest.raises(Collapse, match="exceeds the FLOP budget"):
        fit_to_budget(spec, morph_widths(spec, alive, 1.0), 100, SHAPE, 10)


def test_inputs_of_128_pixels_or_more_get_the_large_flop_budget():
    """seed 002: zeta for small inputs (CIFAR, MNIST), zeta_large from 128 pixels (Animals10 at 300 px)."""
    from automl.resbuilder.settings import ResBuilderSettings

    assert ResBuilderSettings.zeta_argument((127, 300, 3)) == "zeta"
    assert ResBuilderSettings.zeta_argument((128, 128, 3)) == "zeta_large"
    assert ResBuilderSettings.zeta_argument((32, 32, 3)) == "zeta"


def test_the_history_plot_places_removals_and_first_stage_widths():
    """seed 002 Fig. 6.18: a removed block's position over the net's length; §6.1.3: the first
    stage's widest conv at each MorphNet step."""
    from automl.plots import first_stage_width, removal_positions
    from conftest import tiny_spec
    from models.spec import Block, ResNetSpec, Stage

    spec = ResNetSpec(stem_filters=4, stages=[Stage(blocks=[Block(7, 6), Block(3, 9)]),
                                              Stage(blocks=[Block(5, 12)])])
    record = {"spec": spec.to_dict(), "removed_blocks": [5, 3]}
    assert removal_positions(record) == [3 / 3, 2 / 3]      # block 5 is last of three, block 3 second
    assert removal_positions({"spec": spec.to_dict(), "removed_blocks": []}) == []
    assert first_stage_width(record) == 9                  # stem 4, stage-0 blocks 6 and 9; not stage 1's 12
    assert first_stage_width({"spec": tiny_spec().to_dict()}) == 6
