"""Mutations of the GPU check's measurements (benchmarks/gpu_check.py, issue #18 item 4): the images
per second of a training step (which batches and which seconds count) and the GPU / CPU ratio of its
table: see tools/mutations.py."""

MUTATIONS = [
    dict(id="gc-epoch-short-batch", mechanism="GPU check: an epoch's examples, its last batch short",
         what="every batch counted as full", file="benchmarks/gpu_check.py",
         find="return min(steps * batch, n)", replace="return steps * batch",
         tests=["tests/test_gpu_check.py::test_epoch_examples_are_full_batches_but_the_last"]),
    dict(id="gc-warmup-timed", mechanism="GPU check: a fit's first batch (tracing, compilation) is not timed",
         what="the first batch timed and counted", file="benchmarks/gpu_check.py",
         find="            self.skipped, self.start = 1, now\n", replace="            pass\n",
         tests=["tests/test_gpu_check.py::test_the_meter_times_training_batches_without_compilation_or_validation"]),
    dict(id="gc-short-retrace-timed", mechanism="GPU check: the first epoch's short batch (a retrace) is not timed",
         what="the retraced short batch timed and counted", file="benchmarks/gpu_check.py",
         find="examples, end = examples - short, self.previous", replace="examples, end = examples, self.last",
         tests=["tests/test_gpu_check.py::test_the_meter_times_training_batches_without_compilation_or_validation"]),
    dict(id="gc-speedup-inverted", mechanism="GPU check: GPU / CPU, the step's images/s over the CPU figure",
         what="ratio inverted", file="benchmarks/gpu_check.py",
         find="return value / cpu if value and cpu else None", replace="return cpu / value if value and cpu else None",
         tests=["tests/test_gpu_check.py::test_engine_images_per_second_and_the_speedup"]),
    dict(id="gc-engine-batch", mechanism="GPU check: engine images/s = members x the batch of 64 per second",
         what="the batch dropped (members per second)", file="benchmarks/gpu_check.py",
         find="rate(population * ENGINE_BATCH, row[\"vectorised_s\"])", replace="rate(population, row[\"vectorised_s\"])",
         tests=["tests/test_gpu_check.py::test_engine_images_per_second_and_the_speedup"]),
]
