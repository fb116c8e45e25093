"""Mutations of the run's one page, report.html (issue #19): see tools/mutations.py."""

TRAIN = "tests/test_train_run.py::test_train_writes_a_complete_run_directory"

MUTATIONS = [
    dict(id="html-every-plot", mechanism="report.html inlines every plot the run wrote",
         what="only the first", file="automl/html_report.py",
         find='for image in sorted(run.path.glob("*.png")):', replace='for image in sorted(run.path.glob("*.png"))[:1]:',
         tests=[TRAIN]),
    dict(id="html-summary", mechanism="report.html shows the whole summary",
         what="one key", file="automl/html_report.py",
         find="_table([(k, _value(v)) for k, v in summary.items()]",
         replace="_table([(k, _value(v)) for k, v in list(summary.items())[:1]]",
         tests=[TRAIN]),
    dict(id="html-architecture", mechanism="report.html shows the best net as a picture",
         what="no picture", file="automl/html_report.py",
         find="    if run.best_path.exists() and not (run.path / ARCHITECTURE).exists():", replace="    if False:",
         tests=[TRAIN]),
    dict(id="html-every-run", mechanism="every run kind writes report.html with its summary",
         what="not written", file="automl/rundir.py",
         find="\n        write_html_report(self)", replace="\n        pass",
         tests=[TRAIN]),
    dict(id="html-open-writes", mechanism="`automl report --open` writes a missing report.html",
         what="path printed only", file="pipelines/cli.py",
         find="        if not path.exists():\n            if run.summary() is None:",
         replace="        if False:\n            if run.summary() is None:",
         tests=["tests/test_cli.py::test_report_of_a_finished_run_loads_no_tensorflow_and_open_prints_the_page"]),
]
