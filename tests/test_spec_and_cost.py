import keras
import numpy as np
import pytest

from conftest import tiny_spec
from models import Block, Preprocess, ResNetSpec, SpecError, build_model, count, get_spec
from models.spec import Conv, ConvNetSpec, Pool as PoolSpec, spec_from_dict
from models.zoo import lenet5_like, rb_0net, rb_r18


def test_spec_json_round_trip_keeps_everything():
    spec = tiny_spec()
    again = ResNetSpec.from_json(spec.to_json())
    assert again == spec
    assert again.signature() == spec.signature()


def test_signature_ignores_block_ids_but_not_structure():
    a = tiny_spec()
    b = tiny_spec()
    b.stages[0].blocks[0].id = 7
    assert a.signature() == b.signature()
    b.stages[0].blocks[0].filters = 5
    assert a.signature() != b.signature()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(stem_filters=0), "stem_filters"),
    (lambda d: d["stages"][0]["blocks"][0].update(filters=-3), "block 0 filters"),
    (lambda d: d["stages"][1].update(pool={"kind": "median"}), "pool kind"),
    (lambda d: d.update(bogus=1), "bogus"),
    (lambda d: d["stages"][1]["blocks"][0].update(id=0), "unique"),
])
def test_bad_specs_are_rejected_with_the_field_named(mutate, message):
    d = tiny_spec().to_dict()
    mutate(d)
    with pytest.raises(SpecError, match=message):
        ResNetSpec.from_dict(d)


def test_flops_match_a_hand_computation():
    # Input 8x8x1, 10 classes. FLOPs = 2 * MACs of convs and dense layers.
    stem = 2 * (3 * 3 * 1 * 4) * 8 * 8                      # 3x3, 1 -> 4 channels, 8x8 out
    b0 = 2 * (3 * 3 * 4 * 6) * 8 * 8 + 2 * (3 * 3 * 6 * 6) * 8 * 8   # widening block, zero-pad skip: free
    # max pool 2/2 -> 4x4; block 1 has stride 2 -> 2x2, conv1 6 -> 5, conv2 5 -> 8, and a 1x1
    # stride-2 projection 6 -> 8
    b1 = 2 * (3 * 3 * 6 * 5) * 2 * 2 + 2 * (3 * 3 * 5 * 8) * 2 * 2 + 2 * (1 * 1 * 6 * 8) * 2 * 2
    head = 2 * 8 * 10
    cost = count(tiny_spec(), (8, 8, 1), 10)
    assert cost.flops == stem + b0 + b1 + head == 79_312
    params = (36 + 16) + (216 + 24 + 324 + 24) + (270 + 20 + 360 + 32 + 48) + (80 + 10)
    assert cost.params == params


def test_convnet_flops_with_valid_padding_strides_and_pooling_match_a_hand_computation():
    spec = ConvNetSpec(layers=[Conv(4, 3, stride=2, padding="valid"), PoolSpec("max"),
                               Conv(6, 2, padding="valid", batch_norm=True)], head="flatten", dense_units=[5])
    cost = count(spec, (11, 11, 2), 10)
    # conv0: valid 3x3 stride 2 on 11x11: (11 - 3) // 2 + 1 = 5 -> 5x5x4; MACs 3*3*2*4 = 72 per pixel
    # pool: 'same' 2/2 on 5x5 -> ceil(5 / 2) = 3 -> 3x3x4
    # conv2: valid 2x2 on 3x3 -> 2x2x6; MACs 2*2*4*6 = 96 per pixel; no bias (BN follows)
    # flatten 2*2*6 = 24 -> dense 5 -> dense 10
    assert [(l.name, l.output_shape) for l in cost.layers] == [
        ("conv0", (5, 5, 4)), ("conv2", (2, 2, 6)), ("conv2_bn", (2, 2, 6)), ("head_dense0", (5,)), ("head_out", (10,))]
    assert cost.flops == 2 * 72 * 25 + 2 * 96 * 4 + 2 * 24 * 5 + 2 * 5 * 10 == 4708
    assert cost.params == (72 + 4) + 96 + 4 * 6 + (24 * 5 + 5) + (5 * 10 + 10) == 381
    assert cost.trainable_params == 381 - 2 * 6                  # BN's moving mean and variance
    model = build_model(spec, (11, 11, 2), 10)
    assert model.count_params() == 381
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 369


@pytest.mark.parametrize("spec_fn, shape", [
    (tiny_spec, (8, 8, 1)),
    (rb_0net, (8, 8, 1)),
    (lambda: rb_r18(width=8), (32, 32, 3)),
    (lambda: get_spec("resnet-mini"), (28, 28, 1)),
    (lenet5_like, (28, 28, 1)),
    (lambda: ConvNetSpec(layers=[Conv(8, 3, stride=2, batch_norm=True), PoolSpec("avg"), Conv(4, 1)],
                         head="gap", dense_units=[5]), (9, 9, 3)),
])
def test_counter_agrees_with_the_built_keras_model(spec_fn, shape):
    spec = spec_fn()
    model = build_model(spec, shape, 10, Preprocess.scaling(255))
    cost = count(spec, shape, 10)
    layers = {layer.name: layer for layer in model.layers}
    assert cost.params == sum(l.count_params() for l in model.layers if l.name != "preprocess")
    for entry in cost.layers:  # every counted layer exists under that name with that output shape
        assert tuple(layers[entry.name].output.shape[1:]) == entry.output_shape, entry.name


def test_resnet18_has_the_published_parameter_count():
    # torchvision's resnet18 has 11,689,512 trainable parameters; its three downsampling
    # shortcuts carry a BatchNorm (2 * (128 + 256 + 512) = 1,792) that ours do not.
    cost = count(rb_r18(), (224, 224, 3), 1000)
    assert cost.trainable_params == 11_689_512 - 1_792


def test_names_are_stable_when_a_block_is_inserted():
    spec = tiny_spec()
    grown = spec.copy()
    grown.stages[1].blocks.insert(0, Block(grown.next_block_id(), 6, inserted=True))
    before = {l.name for l in build_model(spec, (8, 8, 1), 10).layers}
    after = {l.name for l in build_model(grown, (8, 8, 1), 10).layers}
    assert before <= after
    assert after - before == {f"block2_{p}" for p in ("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "add")}


def test_block_follows_eq_4_1_conv_bn_relu_then_add():
    model = build_model(tiny_spec(), (8, 8, 1), 10)
    chain = ["block0_conv1", "block0_bn1", "block0_relu1", "block0_conv2", "block0_bn2", "block0_relu2"]
    for before, after in zip(chain, chain[1:]):
        assert model.get_layer(after).input is model.get_layer(before).output, (before, after)
    add_inputs = model.get_layer("block0_add").input
    assert add_inputs[0] is model.get_layer("block0_pad").output
    assert add_inputs[1] is model.get_layer("block0_relu2").output      # nothing after the add's ReLU
    # widening 4 -> 6 channels: the skip appends two zero channels and has no weights
    pad = model.get_layer("block0_pad")
    assert pad.get_weights() == []
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    np.testing.assert_array_equal(pad(x).numpy(), np.concatenate([x, np.zeros((2, 8, 8, 2), "float32")], axis=-1))
    assert model.get_layer("block1_proj").kernel.shape == (1, 1, 6, 8)    # stride: 1x1 conv skip
    assert model.get_layer("block1_proj").strides == (2, 2)
    out = model(np.zeros((2, 8, 8, 1), "float32"))
    assert np.allclose(np.sum(out, axis=1), 1.0, atol=1e-5)              # softmax probabilities


def test_keras_file_round_trip_with_custom_layers(tmp_path):
    model = build_model(tiny_spec(), (8, 8, 1), 10, Preprocess(mean=[3.0], std=[2.0]))
    x = np.random.default_rng(0).uniform(0, 16, (4, 8, 8, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_zoo_names_and_spec_files(tmp_path):
    assert get_spec("rb-0net").stem_filters == 64
    assert len(get_spec("rb-0net").stages) == 3          # two pooling stages, no blocks
    assert len(get_spec("rb-r18").blocks()) == 8
    path = tmp_path / "a.json"
    path.write_text(tiny_spec().to_json())
    assert get_spec(str(path)) == tiny_spec()
    with pytest.raises(SpecError, match="unknown architecture"):
        get_spec("resnet-9000")
    path.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        get_spec(str(path))


def test_lenet5_like_is_the_thesis_size_and_round_trips():
    spec = lenet5_like()
    cost = count(spec, (28, 28, 1), 10)
    # conv 5x5 1->6 valid (24x24), conv 5x5 6->16 valid (20x20), pool -> 10x10x16 = 1600, dense 26, dense 10
    assert cost.params == (150 + 6) + (2400 + 16) + (1600 * 26 + 26) + (26 * 10 + 10) == 44_468
    assert cost.flops == 2 * (150 * 24 * 24 + 2400 * 20 * 20 + 1600 * 26 + 26 * 10)
    assert spec_from_dict(spec.to_dict()) == spec
    with pytest.raises(SpecError, match="padding"):
        spec_from_dict({**spec.to_dict(), "layers": [{"conv": {"filters": 4, "padding": "full"}}]})


def test_an_architecture_too_deep_for_the_input_is_rejected():
    with pytest.raises(SpecError, match="does not fit the input: conv1 would output"):
        count(lenet5_like(), (8, 8, 1), 10)


def test_depth_is_bounded_before_anything_is_built():
    from models.spec import MAX_DEPTH

    def resnet(blocks):
        return {"stages": [{"blocks": [{"id": i, "filters": 8} for i in range(blocks)]}]}

    assert len(ResNetSpec.from_dict(resnet(MAX_DEPTH)).blocks()) == MAX_DEPTH
    with pytest.raises(SpecError, match=f"at most {MAX_DEPTH} blocks, got {MAX_DEPTH + 1}"):
        ResNetSpec.from_dict(resnet(MAX_DEPTH + 1))
    convs = {"type": "convnet", "layers": [{"conv": {"filters": 4, "kernel": 1}}] * (MAX_DEPTH + 1)}
    with pytest.raises(SpecError, match=f"at most {MAX_DEPTH} layers"):
        spec_from_dict(convs)


def test_parameters_are_bounded_from_the_exact_count_before_keras_allocates(monkeypatch):
    import models.builder as builder

    spec = tiny_spec()
    params = count(spec, (8, 8, 1), 10).params
    monkeypatch.setattr(builder, "MAX_PARAMS", params)
    assert build_model(spec, (8, 8, 1), 10).count_params() == params      # at the bound: built
    monkeypatch.setattr(builder, "MAX_PARAMS", params - 1)
    with pytest.raises(SpecError, match=f"{params:,} parameters on input"):
        build_model(spec, (8, 8, 1), 10)
