"""Mutations of the export (issue 17, item 4): a model.keras that loads with plain Keras (ChannelPad
swapped for an exact [I | 0] 1x1 conv, weights copied, no training state), the TFLite and ONNX
conversions, and export.json saying what a reader needs: see tools/mutations.py."""

_T = "tests/test_export_formats.py"
_PORTABLE = f"{_T}::test_the_portable_copy_swaps_each_channel_pad_for_an_exact_frozen_identity_conv"
_FRESH = f"{_T}::test_model_keras_loads_with_plain_keras_where_the_project_is_not_installed"
_TFLITE = f"{_T}::test_tflite_predicts_as_the_model"
_ONNX = f"{_T}::test_onnx_opset_17_predicts_as_the_model"
_FILES = f"{_T}::test_export_json_lists_the_files_written_and_says_keras_alone_loads_an_image_model"
_DMU = f"{_T}::test_a_dmu_export_names_the_one_module_its_reader_must_import"
_FORMATS = f"{_T}::test_bad_formats_and_a_missing_tf2onnx_are_one_line_usage_errors_raised_before_any_loading"

MUTATIONS = [
    dict(id="ex-pad-kernel-offset", mechanism="ChannelPad as a 1x1 conv with kernel [I | 0]",
         what="identity offset ([0 | I]: the input lands in the appended channels)", file="automl/export.py",
         find="kernel = np.eye(channels, layer.filters, dtype=layer.kernel.dtype)",
         replace="kernel = np.eye(channels, layer.filters, k=layer.filters - channels, dtype=layer.kernel.dtype)",
         tests=[_PORTABLE, _FRESH]),
    dict(id="ex-pad-trainable", mechanism="ChannelPad as a 1x1 conv: a fixed skip path, never learned",
         what="flag flipped (the conv is trainable)", file="automl/export.py",
         find="use_bias=False, trainable=False, name=layer.name)",
         replace="use_bias=False, trainable=True, name=layer.name)",
         tests=[_PORTABLE]),
    dict(id="ex-weights-not-copied", mechanism="portable copy: every weight copied into the clone",
         what="copy dropped (the clone keeps fresh initial weights)", file="automl/export.py",
         find="            layer.set_weights(by_name[layer.name].get_weights())",
         replace="            pass",
         tests=[_PORTABLE, _FRESH]),
    dict(id="ex-twin-weights-not-copied", mechanism="portable copy: the uncompiled twin holds the run's weights",
         what="copy dropped", file="automl/export.py",
         find="twin.set_weights(model.get_weights())", replace="twin.get_weights()",
         tests=[_PORTABLE, _FRESH]),
    dict(id="ex-compile-state-kept", mechanism="model.keras without training state (our optimizers and losses)",
         what="compile config kept", file="automl/export.py",
         find='config.pop("compile_config", None)', replace='config.get("compile_config", None)',
         tests=[_PORTABLE, _FRESH, _DMU]),
    dict(id="ex-keras-file-original", mechanism="model.keras is the portable copy",
         what="the run's own model written (ChannelPad, optimizer and all)", file="automl/export.py",
         find='portable.save(staging / "model.keras")', replace='model.save(staging / "model.keras")',
         tests=[_FRESH]),
    dict(id="ex-tflite-quantised", mechanism="TFLite export keeps float32 weights",
         what="default optimisation on (weights quantised to 8 bits)", file="automl/export.py",
         find="converter.optimizations = []", replace="converter.optimizations = [tf.lite.Optimize.DEFAULT]",
         tests=[_TFLITE]),
    dict(id="ex-onnx-opset", mechanism="ONNX export at opset 17", what="opset changed", file="automl/export.py",
         find="ONNX_OPSET = 17", replace="ONNX_OPSET = 13",
         tests=[_ONNX]),
    dict(id="ex-saved-model-kept-flip", mechanism="the SavedModel is kept only when asked for",
         what="condition inverted", file="automl/export.py",
         find='if "saved_model" not in formats:', replace='if "saved_model" in formats:',
         tests=[_FILES, _DMU]),
    dict(id="ex-needs-lists-skipped", mechanism="export.json names the custom layers a reader must import",
         what="the config's lists not searched (the functional model's layers are one)", file="automl/export.py",
         find="            for value in node:\n                walk(value)",
         replace="            pass",
         tests=[_DMU]),
    dict(id="ex-onnx-check-late", mechanism="a missing tf2onnx is a one-line error before anything is loaded",
         what="comparison flipped (checked only when onnx is not asked for)", file="automl/export_checks.py",
         find='    if "onnx" in formats:\n        import importlib.util', replace='    if "onnx" not in formats:\n        import importlib.util',
         tests=[_FORMATS]),
]
