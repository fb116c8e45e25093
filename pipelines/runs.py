"""The run directory and config of a `train` or `search` command: a new run from the defaults and
the flags, or the saved one on --resume, with every check that can be made before TensorFlow
loads (bad input costs a fraction of a second and leaves nothing on disk)."""
from __future__ import annotations

import json

from automl.errors import UsageError
from automl.training_settings import GRADIENT_OPTIMIZERS, lr_rule_refusal
from automl.strategies import DEFAULT_STRATEGY, KERAS_TUNERS, RESBUILDER_STRATEGIES, STRATEGIES
from models.sequence import CELLS
from pipelines import config as configs
from pipelines.population import arch_name, is_population



def check_budget(budget: str | None) -> None:
    if budget is not None:
        from automl.budget import parse_duration

        try:
            parse_duration(budget)
        except ValueError as e:
            raise UsageError(f"--budget: {e}") from None


def resolve_run(args, command: str):
    """The run directory and its config: new from defaults and flags, or the saved one on --resume."""
    from automl.rundir import RunDir
    from pipelines import distributed

    role = distributed.role() if command == "search" else "serial"
    if role != "serial":
        if not args.out:
            raise UsageError("a distributed search needs --out RUN_DIR, the same directory for the chief and "
                             "every worker (on a shared filesystem)")
        if role == "worker":  # the chief's saved config is the search's; a worker's own flags are ignored
            distributed.wait_for_run(args.out)
            run = RunDir.open(args.out)
            if run.meta().get("strategy") != "evolution":
                raise UsageError(f"{run.path} is not an evolution search; only --strategy evolution runs distributed")
            return run, configs.run_config(run, command)
        if not args.resume and (args.strategy or DEFAULT_STRATEGY) != "evolution":
            raise UsageError("KERASTUNER_* variables are set, but only --strategy evolution runs distributed")

    check_budget(args.budget)
    if args.resume:
        if not args.out:
            raise UsageError("--resume needs --out RUN_DIR, the run to continue")
        if (args.config or args.overrides or args.dataset or args.arch or args.optimizer or args.seed is not None
                or args.model
                or getattr(args, "strategy", None) or getattr(args, "preset", None) or getattr(args, "space", None)):
            raise UsageError("--resume continues a run with its saved config; drop --config/--set/--dataset/"
                             "--arch/--optimizer/--seed/--strategy/--preset/--space")
        run = RunDir.open(args.out)
        if run.config().get("api"):
            raise UsageError(f"{run.path} is a search of {run.config()['api']} in Python; continue it there, "
                             "with search() on the same directory and project_name")
        if run.meta().get("command") != command:
            raise UsageError(f"{run.path} is a run of `automl {run.meta().get('command')}`, not `automl {command}`")
        cfg = configs.run_config(run, command)
        if args.budget is not None:  # this invocation's time; the saved config keeps the first budget
            cfg.budget = args.budget
            run.update_meta(budgets=run.meta().get("budgets", []) + [args.budget])
        return run, cfg

    flags = list(args.overrides)
    for key, value in (("dataset", args.dataset), ("seed", args.seed), ("model.arch", args.arch),
                       ("data.data_dir", args.data_dir), ("train.optimizer", args.optimizer),
                       ("model.cell", args.model), ("evolution.space", getattr(args, "space", None)),
                       ("tuner.space", None if getattr(args, "space", None) in (None, "residual") else args.space),
                       ("budget", None if args.budget is None else json.dumps(args.budget))):
        if value is not None:
            flags.append(f"{key}={value}")
    preset = (getattr(args, "preset", None) or configs.DEFAULT_PRESET) if command == "search" else None
    cfg = configs.load_config(command, args.config, flags, preset=preset)
    configs.check_ranges(cfg, "config")
    # Fail on missing data or a bad architecture before any directory is written.
    from pipelines.datasets import is_sequence, preflight

    preflight(cfg.dataset, cfg.data)
    check_model_fits_data(cfg, args, command, is_sequence(cfg.dataset))
    from models import get_spec

    get_spec(arch_name(cfg))
    out = args.out or RunDir.default_path(command, cfg.dataset)
    run = RunDir.create(out, command, configs.to_dict(cfg))
    if command == "search":
        run.update_meta(strategy=args.strategy or DEFAULT_STRATEGY, preset=preset)
    return run, cfg


def check_model_fits_data(cfg, args, command: str, sequential: bool) -> None:
    """A sequence dataset with an image architecture, or the reverse, named both ways."""
    if sequential and args.arch:
        raise UsageError(f"dataset {cfg.dataset!r} is a sequence dataset, but --arch {args.arch} is an image "
                         f"architecture; choose a recurrent model with --model {'|'.join(CELLS)}")
    if not sequential and cfg.model.cell:
        raise UsageError(f"dataset {cfg.dataset!r} holds images, but model {cfg.model.cell!r} is a recurrent "
                         "sequence model; use --arch for images, or a sequence dataset (adding, parity, "
                         "temporal_order, digits-rows, ...)")
    if command == "search" and is_population(cfg.train.optimizer):
        raise UsageError(f"optimizer {cfg.train.optimizer} is a population optimizer for `automl train`; "
                         f"`automl search` trains its candidates with {', '.join(GRADIENT_OPTIMIZERS)}")
    if sequential and cfg.model.lr_rule and cfg.model.sequence_cell == "dmu" \
            and cfg.train.optimizer in GRADIENT_OPTIMIZERS and lr_rule_refusal(cfg.train.optimizer):
        raise UsageError(lr_rule_refusal(cfg.train.optimizer))
    if command != "search":
        return
    strategy = getattr(args, "strategy", None) or DEFAULT_STRATEGY
    if sequential and strategy in RESBUILDER_STRATEGIES:
        raise UsageError(f"dataset {cfg.dataset!r} is a sequence dataset, but --strategy {strategy} grows image "
                         "ResNets; search recurrent models with --strategy "
                         f"{' or '.join(s for s in STRATEGIES if s not in RESBUILDER_STRATEGIES)}")
    space = getattr(args, "space", None) or \
        {"evolution": cfg.evolution.space, **dict.fromkeys(KERAS_TUNERS, cfg.tuner.space)}.get(strategy)
    if space is None or space == "auto":
        return
    if sequential and space != "recurrent":
        raise UsageError(f"dataset {cfg.dataset!r} is a sequence dataset, but the {space} search space holds image "
                         "networks; use --space recurrent (or leave it out)")
    if not sequential and space == "recurrent":
        raise UsageError(f"dataset {cfg.dataset!r} holds images, but the recurrent search space holds sequence "
                         "models; use --space conv, or a sequence dataset (adding, parity, digits-rows, ...)")
    if strategy in KERAS_TUNERS and space == "residual":
        raise UsageError(f"--strategy {strategy} searches the conv or recurrent space; the residual space is "
                         "searched by --strategy evolution (or resbuilder)")
