"""The `automl` command.

Heavy imports (TensorFlow takes ~3 s) happen inside the commands, so `--help` is instant.
Bad input ends in one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from automl import __version__
from automl.errors import ConfigError, SpecError, UsageError, exit_code, shown
from automl.evolution.settings import SPACES, EvolutionSettings
from automl.formats import DEFAULT_FORMATS, EXPORT_FORMATS, ONNX_INSTALL
from automl.strategies import DEFAULT_STRATEGY, DESCRIPTIONS, KERAS_TUNERS
from automl.survival.settings import MODES as SURVIVAL_MODES
from automl.survival.settings import SlidesSettings
from automl.training_settings import GRADIENT_OPTIMIZERS, OPTIMIZERS, POPULATION_OPTIMIZERS, TrainingSettings
from models.sequence import CELLS, DEFAULT_CELL
from models.zoo import ARCHITECTURES
from pipelines import config as configs
from pipelines.config import DEFAULT_PRESET
from pipelines.datasets import BUNDLED, TFDS_EXAMPLES
from pipelines.runs import check_budget, resolve_run

# The library's strategies, and the command line's own baseline.
SEARCH_STRATEGIES = {**DESCRIPTIONS, "fixed": "train the given architecture (--arch, default ResNet-18) as it is: "
                                              "the fixed-net baseline"}
STRATEGY_FLAGS = {"evolution": " (tune with --set evolution.KEY=VALUE, distribute with KERASTUNER_* variables)",
                  **{name: " (tune with --set tuner.KEY=VALUE)" for name in KERAS_TUNERS}}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _quiet_tensorflow() -> None:
    """Silence TensorFlow without importing it (the import takes seconds; bad input should not wait).

    Level 2 hides TF's INFO/WARNING C++ logs. oneDNN stays on: turning it off halves conv
    training speed (feasibility.md §2), so its start-up line remains.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    n = int(os.environ.get("AUTOML_CPU_DEVICES", "0") or 0)
    if n > 1:
        from automl.training import split_cpu

        split_cpu(n)


def _run_flags(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--dataset", default=None,
                   help=f"{', '.join(BUNDLED)} (offline; default {configs.top_level('search')['dataset']}), any "
                        f"tensorflow-datasets image classification name ({', '.join(TFDS_EXAMPLES[:3])}, ...), "
                        "a folder with one subfolder per class, or a sequence task (`automl datasets`)")
    p.add_argument("--config", metavar="FILE", help="YAML file whose keys override the defaults in configs/")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override one config key, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--out", metavar="DIR",
                   help="run directory (default runs/<command>-<dataset>-<time>); with --resume, the run to continue")
    p.add_argument("--seed", type=int, help="random seed for initialisation, shuffling and augmentation")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed epoch, with its saved config")
    p.add_argument("--budget", metavar="DURATION",
                   help="wall-clock budget of this command, e.g. 90s, 6m, 2h: work stops at the first batch "
                        "after it and the run is finalised inside it; with --resume, the time to add")
    p.add_argument("--quiet", action="store_true", help="print only the final result")
    p.add_argument("--arch", metavar="NAME|SPEC.json",
                   help=f"architecture: {', '.join(ARCHITECTURES)}, or a spec .json file")
    p.add_argument("--model", choices=CELLS,
                   help=f"recurrent model for sequence datasets: {', '.join(CELLS)} (default there: {DEFAULT_CELL}); "
                        "tune with --set model.units/depth/hidden/layers/gate_bias/lr_rule")
    p.add_argument("--data-dir", metavar="DIR", help="tensorflow-datasets data directory")
    gradient = (f"{', '.join(GRADIENT_OPTIMIZERS)} (default {TrainingSettings.defaults()['optimizer']}; phs: "
                "port-Hamiltonian with fixed friction, phs-go: with goal-oriented braking, tune with --set "
                "train.phs.KEY=VALUE)")
    if command == "search":  # a search trains its candidates by gradient descent only
        p.add_argument("--optimizer", choices=GRADIENT_OPTIMIZERS, help=f"how candidates train: {gradient}")
        return
    p.add_argument("--optimizer", choices=OPTIMIZERS,
                   help=f"{gradient}, or a gradient-free population optimizer: {', '.join(POPULATION_OPTIMIZERS)} "
                        "(tune with --set population.NAME.KEY=VALUE, memory with --set population.memory_mb=MB)")


def build_parser() -> Parser:
    parser = Parser(prog="automl", description="AutoML for Keras 3 / TensorFlow.")
    parser.add_argument("--version", action="version", version=f"automl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="train one architecture into a run directory",
                       description="Train one architecture with the seeds' defaults (configs/train.yaml), "
                                   "keep the best epoch by validation accuracy, test it once.")
    _run_flags(p, "train")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("search", help="search for an architecture",
                       description="Search for an architecture. Strategies: " +
                                   "; ".join(f"{k}: {v}{STRATEGY_FLAGS.get(k, '')}" for k, v in SEARCH_STRATEGIES.items()))
    _run_flags(p, "search")
    p.add_argument("--strategy", choices=list(SEARCH_STRATEGIES), default=None,
                   help=f"search strategy (default: {DEFAULT_STRATEGY})")
    p.add_argument("--space", choices=SPACES, default=None,
                   help="search space of evolution, random, bayesian and hyperband (default: conv for images, "
                        "recurrent for sequence datasets: cell, width, depth, gate bias, learning-rate rule)")
    p.add_argument("--preset", choices=configs.presets("search"), default=None,
                   help=f"{DEFAULT_PRESET} (default): short schedules (ResBuilder, "
                        f"{EvolutionSettings.defaults()['budget_epochs']}-epoch evolution), minutes on small data; "
                        "thesis: the theses' full schedules (configs/resbuilder.yaml, configs/evolution.yaml)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("survival", help="whole-slide survival analysis: slides + clinical table -> risks, report",
                       description="Train a VGG-style Cox net on whole-slide images (thumbnails, the thesis' mode, "
                                   "or tissue tiles), choose the epoch by the validation C-index, and report C-index, "
                                   "AUROC, Kaplan-Meier curves and log-rank tests per patient (configs/survival.yaml, "
                                   "configs/survival_settings.yaml; from Python: automl.SurvivalAnalysis).")
    p.add_argument("--slides", metavar="DIR", help="folder of slides (svs, ndpi, mrxs, tiff, ... or plain images)")
    p.add_argument("--clinical", metavar="CSV", help="clinical table (default: DIR/clinical.csv); columns slide, "
                                                      "patient, time, event, optional source and split")
    p.add_argument("--demo", action="store_true", help="write a small synthetic cohort into the run and analyse it")
    p.add_argument("--mode", choices=SURVIVAL_MODES, help=f"{' or '.join(SURVIVAL_MODES)} (default "
                                                          f"{SlidesSettings.defaults()['mode']}, the thesis')")
    p.add_argument("--search", action="store_true", help="first search depth and widths with Keras Tuner's random "
                                                        "search on the validation C-index (search.max_trials)")
    for flag, kwargs in (("--config", dict(metavar="FILE", help="YAML overriding configs/survival.yaml")),
                         ("--set", dict(dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                                        help="override one config key, repeatable")),
                         ("--out", dict(metavar="DIR", help="run directory (default runs/survival-<time>)")),
                         ("--seed", dict(type=int, help="random seed")),
                         ("--budget", dict(metavar="DURATION", help="wall-clock budget, e.g. 10m")),
                         ("--resume", dict(action="store_true", help="continue the run in --out")),
                         ("--quiet", dict(action="store_true", help="print only the result line"))):
        p.add_argument(flag, **kwargs)
    p.set_defaults(func=cmd_survival)

    p = sub.add_parser("export", help="export a run's best model as a SavedModel for serving",
                       description="Write DIR/saved_model (serving_default: raw images -> class "
                                   "probabilities), DIR/model.keras and DIR/export.json.")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--out", metavar="DIR", required=True, help="export directory (must not exist, or be empty)")
    p.add_argument("--format", dest="formats", action="append", choices=EXPORT_FORMATS, metavar="FORMAT",
                   help=f"one of {', '.join(EXPORT_FORMATS)}, repeatable (default {', '.join(DEFAULT_FORMATS)}; "
                        "saved_model for TF Serving, tflite writes DIR/model.tflite, onnx DIR/model.onnx and needs "
                        f"{ONNX_INSTALL}); DIR/model.keras, loadable with plain Keras, and DIR/export.json are "
                        "always written")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="print a run's table of trained models",
                       description="Print one row per trained model of a run, and its summary.")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--open", action="store_true", help="print the path of RUN/report.html, the run's page with "
                                                        "every plot, to open in a browser (written if missing)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("datasets", help="list datasets, show one, or prepare tfds data offline",
                       description="Without arguments: list the datasets. `info NAME`: sizes and shapes. "
                                   "`prepare NAME`: download (or read --manual-dir) into the tfds data dir.")
    p.add_argument("action", nargs="?", choices=["list", "info", "prepare"], default="list",
                   help="list (default), info or prepare")
    p.add_argument("name", nargs="?", help="dataset name (for info and prepare)")
    p.add_argument("--data-dir", metavar="DIR", help="tensorflow-datasets data directory")
    p.add_argument("--manual-dir", metavar="DIR", help="folder with manually downloaded archives (prepare)")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("config", help="show every config key of a command with its default and source",
                       description="`config show [train|search|survival]`: the command's config file with every "
                                   "key, its default and its source in the seeds (what --config and --set override).")
    p.add_argument("action", choices=["show"], help="show")
    p.add_argument("name", nargs="?", choices=list(configs.SCHEMAS), default="train",
                   help=f"the command ({', '.join(configs.SCHEMAS)}; default train)")
    p.set_defaults(func=cmd_config)
    return parser


# -- commands ---------------------------------------------------------------------------
def _train_in_run(args, command: str) -> dict:
    from automl.budget import Deadline, parse_duration
    from pipelines.datasets import load_dataset

    run, cfg = resolve_run(args, command)
    deadline = Deadline(parse_duration(cfg.budget) if cfg.budget else None, started=_STARTED)
    try:
        # Bundled data and image folders load without TensorFlow, so their errors come first.
        data = None if run.summary() else load_dataset(cfg.dataset, cfg.data)
        if command == "search":
            from pipelines.search import run_search

            summary = run_search(cfg, run, run.meta()["strategy"], quiet=args.quiet, data=data, deadline=deadline)
        else:
            from pipelines.train import run_training

            summary = run_training(cfg, run, quiet=args.quiet, data=data, deadline=deadline)
    except (UsageError, SpecError):
        if not args.resume:
            run.discard_if_untouched()  # e.g. the dataset is missing: leave no empty run behind
        raise
    if summary.get("role") == "worker":
        print(f"{run.path}  worker finished")
    else:
        from automl.report import result_text

        print(f"{run.path}  {result_text(summary)}")
    return summary


def cmd_train(args) -> int:
    _train_in_run(args, "train")
    return 0


def cmd_search(args) -> int:
    _train_in_run(args, "search")
    return 0


def cmd_survival(args) -> int:
    from automl.budget import Deadline, parse_duration
    from automl.report import result_text
    from automl.rundir import RunDir
    from automl.survival.clinical import prepare_cohort
    from pipelines.console import already_complete, printer
    from pipelines.survival.clinical import read_table

    check_budget(args.budget)
    if args.resume:
        if not args.out:
            raise UsageError("--resume needs --out RUN_DIR, the run to continue")
        if args.config or args.overrides or args.slides or args.clinical or args.demo or args.mode or args.seed is not None:
            raise UsageError("--resume continues a run with its saved config and data; drop the other flags")
        run = RunDir.open(args.out)
        if run.meta().get("command") != "survival":
            raise UsageError(f"{run.path} is a run of `automl {run.meta().get('command')}`, not `automl survival`")
        cfg = configs.run_config(run, "survival")
        done = already_complete(run, printer(args.quiet))
        if done is not None:  # its table need not be there any more
            print(f"{run.path}  {result_text(done)}")
            return 0
        if args.budget is not None:  # this invocation's time; the saved config keeps the first budget
            cfg.budget = args.budget
            run.update_meta(budgets=run.meta().get("budgets", []) + [args.budget])
        meta = run.meta()
        if "slides_dir" not in meta:  # killed before the run recorded its slides
            if not meta.get("demo"):
                raise UsageError(f"{run.path} was stopped before it recorded its slides; start it again without --resume")
            table_path = _write_demo_cohort(cfg, run, args.quiet)  # killed while writing it: written again, the same
            run.update_meta(slides_dir=str(table_path.parent / "slides"), clinical=str(table_path))
            meta = run.meta()
        slides_dir, table_path = Path(meta["slides_dir"]), Path(meta["clinical"])
        search = meta.get("search", False)
        analysis = _survival_analysis(cfg, run.path, search, args.quiet)
        table = read_table(table_path)
    else:
        if not args.demo and not args.slides:
            raise UsageError("give --slides DIR (and --clinical CSV), or --demo for a synthetic cohort")
        if args.demo and (args.slides or args.clinical):
            raise UsageError("--demo writes its own cohort; drop --slides/--clinical")
        flags = list(args.overrides)
        if args.mode:
            flags.append(f"slides.mode={args.mode}")
        if args.seed is not None:
            flags.append(f"seed={args.seed}")
        if args.budget is not None:
            flags.append(f"budget={json.dumps(args.budget)}")
        cfg = configs.load_config("survival", args.config, flags)
        configs.check_ranges(cfg, "config")
        if args.slides:
            slides_dir = Path(args.slides)
            table_path = Path(args.clinical) if args.clinical else slides_dir / "clinical.csv"
            if not slides_dir.is_dir():
                raise UsageError(f"slide folder {slides_dir} does not exist")
            table = read_table(table_path)
            # every table problem before TensorFlow loads or a run is made
            prepare_cohort(table, slides_dir, cfg.clinical, cfg.data, name=f"clinical table {table_path.name}")
        if args.demo:  # the demo's small slides need a smaller downsampling and canvas
            cfg.slides = cfg.demo.applied_to(cfg.slides)
        out = Path(args.out or RunDir.default_path("survival", "demo" if args.demo else slides_dir.name))
        analysis = _survival_analysis(cfg, out, args.search, args.quiet)
        run = RunDir.create(out, "survival", configs.to_dict(cfg))
        search = args.search
        run.update_meta(demo=bool(args.demo), search=search)  # what --resume needs, before the slow cohort
        if args.demo:
            table_path = _write_demo_cohort(cfg, run, args.quiet)
            slides_dir, table = table_path.parent / "slides", read_table(table_path)
        run.update_meta(slides_dir=str(slides_dir), clinical=str(table_path))
    deadline = Deadline(parse_duration(cfg.budget) if cfg.budget else None, started=_STARTED)
    try:
        summary = analysis.fit(table, slides_dir, deadline=deadline)
    except (UsageError, SpecError):
        if not args.resume:
            run.discard_if_untouched()
        raise
    print(f"{run.path}  {result_text(summary)}")
    return 0


def _write_demo_cohort(cfg, run, quiet: bool) -> Path:
    """The demo's synthetic cohort in RUN/cohort (seeded: the same files every time); its table's path."""
    from automl.survival.cohort import write_cohort

    d = cfg.demo
    if not quiet:
        print(f"writing the demo cohort: {d.patients} patients into {run.path / 'cohort'}", file=sys.stderr)
    return write_cohort(run.path / "cohort", d.patients, tuple(d.size), d.mpp, cfg.seed, d.shift)


def _survival_analysis(cfg, path: Path, search: bool, quiet: bool):
    """The library's automl.SurvivalAnalysis for a config, running in the run directory `path`."""
    from automl.settings import ArgumentError
    from automl.survival.api import SurvivalAnalysis

    path = path if path.name not in ("", ".", "..") else path.resolve()  # `--out .` has no folder name
    try:
        return SurvivalAnalysis(slides=cfg.slides, clinical=cfg.clinical, data=cfg.data, net=cfg.model,
                                training=cfg.train, search=cfg.search if search else None, seed=cfg.seed,
                                budget=cfg.budget, directory=str(path.parent), project_name=path.name,
                                verbose=0 if quiet else 1)
    except ArgumentError as e:  # the top-level keys; the sections were checked as they loaded
        raise ConfigError(f"config: '{e.argument}' must be {e.expected}, got {shown(e.value)}") from None


def cmd_export(args) -> int:
    from automl.export_checks import check_export

    formats = tuple(args.formats or DEFAULT_FORMATS)
    plan = check_export(args.run, args.out, formats)  # light: bad input is refused before TensorFlow loads
    if plan.unfinished:
        print(f"note: {plan.unfinished}", file=sys.stderr)
    from automl.export import write_export

    out = write_export(plan)
    written = ", ".join(sorted(p.name for p in out.iterdir()))
    print(f"exported {args.run} to {out}: {written}")
    return 0


def cmd_report(args) -> int:
    from automl.report import format_report
    from automl.rundir import RunDir

    run = RunDir.open(args.run)
    if args.open:
        from automl.html_report import REPORT, write_html_report

        path = run.path / REPORT
        if not path.exists():
            if run.summary() is None:
                raise UsageError(f"{run.path} has no summary yet (unfinished): no report.html to open")
            path = write_html_report(run)
        print(path.resolve())
        return 0
    print(format_report(run))
    return 0


def cmd_config(args) -> int:
    print(configs.describe(args.name), end="")
    return 0


def cmd_datasets(args) -> int:
    from pipelines.datasets import BUNDLED, TFDS_EXAMPLES

    if args.action == "list":
        for name, (*_, description) in BUNDLED.items():
            print(f"{name:14s} {description}")
        print(f"{'<tfds name>':14s} any tensorflow-datasets image-classification dataset, e.g. "
              f"{', '.join(TFDS_EXAMPLES)} (prepare offline: automl datasets prepare NAME)")
        print(f"{'<folder>':14s} a folder with one subfolder of images per class (or train/ and test/ inside)")
        from pipelines.datasets.sequences import READINGS, SYNTHETIC

        print(f"{'<sequences>':14s} synthetic, seeded (data.sequence_length, data.sequence_sizes): {', '.join(SYNTHETIC)}")
        print(f"{'':14s} images read as sequences: {', '.join(f'digits-{r}' for r in READINGS)}, and mnist5k-*")
        return 0
    if not args.name:
        raise UsageError(f"`automl datasets {args.action}` needs a dataset name")
    if args.action == "prepare":
        from pipelines.datasets import tfds_source

        if args.name in BUNDLED:
            print(f"{args.name} ships with its pip package; nothing to prepare")
            return 0
        if not tfds_source.is_tfds_name(args.name):
            raise UsageError(f"{args.name!r} is not a tensorflow-datasets name")
        if args.manual_dir and not Path(args.manual_dir).is_dir():
            raise UsageError(f"manual dir {args.manual_dir} does not exist")
        b = tfds_source.prepare(args.name, args.data_dir, args.manual_dir)
        print(f"{args.name} is prepared in {b.data_dir}")
        return 0
    from pipelines.datasets import load_dataset

    data_cfg = configs.load_config("train", None, [f"data.data_dir={args.data_dir}"] if args.data_dir else []).data
    data = load_dataset(args.name, data_cfg)
    for key, value in data.describe().items():
        print(f"{key:12s} {value}")
    return 0


_STARTED = time.monotonic()  # a budget counts from the command's start (main() resets it)


def main(argv: list[str] | None = None) -> int:
    global _STARTED
    _STARTED = time.monotonic()
    args = build_parser().parse_args(argv)
    _quiet_tensorflow()
    try:
        return args.func(args)
    except Exception as e:
        code = exit_code(e)
        if code is None:
            raise
        print(f"automl {args.command}: error: {e}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print(f"automl {args.command}: interrupted; completed work is saved (continue with --resume --out RUN)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
