"""The population optimizers' settings classes (issue 17): each argument defined once, in
automl.population_settings; the optimizers and the `population:` config section validate with
them, and an error names the argument (Python) or the key and where it came from (command line).
Fast: nothing here trains."""
import inspect
import subprocess
import sys

import pytest

import automl
from automl.population_settings import (DE_DONORS, NDES_VARIANTS, SECTIONS, FitSettings, PopulationRunSettings,
                                        PopulationSettings)
from automl.settings import ArgumentError
from automl.training_settings import POPULATION_OPTIMIZERS
from pipelines.cli import main

CLASSES = {"leea": automl.LEEA, "ndes": automl.NDES, "ndes-g": automl.NDES_G, "ndes-b": automl.NDES_B,
           "de": automl.DE, "cosyne": automl.CoSyNE, "es": automl.MuLambdaES}
OWNER = {"ndes-g": "NDES", "ndes-b": "NDES"}  # the factories build an NDES

# One bad value per argument: every algorithm's own, the shared run settings, and the classes' extras.
BAD = [
    ("leea", "sigma", -1), ("leea", "sigma_mode", "wild"), ("leea", "crossover", "two-point"),
    ("leea", "truncation", 1.5), ("leea", "population_size", 1), ("leea", "decay_steps", 0), ("leea", "tau", -0.1),
    ("leea", "batch_size", 0), ("leea", "init_scale", -1.0),
    ("ndes", "population_size", -3), ("ndes", "mu", 0), ("ndes", "history", 0), ("ndes", "ccum", 0.0),
    ("ndes", "cp", 1.5), ("ndes", "bounds", 0), ("ndes", "init", "normal"), ("ndes", "ewma", "yes"),
    ("ndes", "bootstrap_fraction", 1.0), ("ndes", "variant", "ndes-x"), ("ndes", "fuse", 1),
    ("ndes-g", "gradient_lr", 0), ("ndes-b", "bootstrap_patience", -1),
    ("de", "mutation", "best9"), ("de", "crossover_rate", -0.1), ("de", "scale", 0), ("de", "genome", "fourier"),
    ("de", "genes", 0), ("de", "population_size", 2),
    ("cosyne", "children", 3), ("cosyne", "mutation_rate", 2.0), ("cosyne", "gamma", -0.2),
    ("es", "selection", "roulette"), ("es", "crossover", "two-point"), ("es", "parent_fraction", 0),
    ("es", "rho", 0), ("es", "elitism", 1),
    ("leea", "memory_mb", 0), ("de", "validation_candidates", 0), ("cosyne", "checkpoint_seconds", -1),
    ("es", "jit", "no"), ("ndes", "seed", -1), ("leea", "validation_every", 0),
]


@pytest.mark.parametrize("name, argument, value", BAD, ids=[f"{n}-{a}" for n, a, _ in BAD])
def test_a_bad_argument_to_a_population_optimizer_names_the_argument_and_the_value(name, argument, value):
    with pytest.raises(ArgumentError) as caught:
        CLASSES[name](**{argument: value})
    error = caught.value
    assert (error.owner, error.argument, error.value) == (OWNER.get(name, CLASSES[name].__name__), argument, value)
    assert f"argument `{argument}`" in str(error) and f"Received: {argument}={value!r}" in str(error)


def test_an_unknown_keyword_and_a_positional_argument_are_type_errors():
    with pytest.raises(TypeError, match="unexpected keyword argument 'simga'"):
        automl.LEEA(simga=0.1)
    with pytest.raises(TypeError):
        automl.DE(13)  # keywords only, as every settings class


def test_rules_that_relate_two_arguments_hold_at_their_boundary():
    # LEEA: elites and crossover children together at most the whole population (mutants are the rest)
    leea = automl.LEEA(elite_fraction=0.25, crossover_fraction=0.75)
    assert (leea.p_e, leea.p_c) == (0.25, 0.75)
    with pytest.raises(ArgumentError, match=r"`crossover_fraction` must be at most 1 - elite_fraction \(0.7\)"):
        automl.LEEA(elite_fraction=0.3, crossover_fraction=0.75)
    # DE: the target and the donors its mutation draws are distinct members
    for mutation, donors in DE_DONORS.items():
        assert automl.DE(population_size=donors + 1, mutation=mutation).size == donors + 1
        with pytest.raises(ArgumentError, match="population_size"):
            automl.DE(population_size=donors, mutation=mutation)
    # CoSyNE: an even number of children, fewer than the population
    assert automl.CoSyNE(population_size=5, children=4).children == 4
    for children in (3, 0):
        with pytest.raises(ArgumentError, match="children"):
            automl.CoSyNE(population_size=5, children=children)
    with pytest.raises(ArgumentError, match=r"below population_size \(4\)"):
        automl.CoSyNE(population_size=4, children=4)
    # ES: a parent fraction in (0, 1]
    assert automl.MuLambdaES(population_size=10, parent_fraction=1.0).mu == 10
    with pytest.raises(ArgumentError, match="parent_fraction"):
        automl.MuLambdaES(parent_fraction=0.0)
    # nDES: mu at most the population, once both are given
    assert automl.NDES(population_size=8, mu=8).requested_mu == 8
    with pytest.raises(ArgumentError, match=r"`mu` must be an integer in \[1, population_size \(8\)\]"):
        automl.NDES(population_size=8, mu=9)
    # the shared ones
    assert automl.DE(memory_mb=0.5, checkpoint_seconds=0).memory_mb == 0.5
    with pytest.raises(ArgumentError, match="memory_mb"):
        automl.DE(memory_mb=0)


def test_auto_is_none_in_python_as_in_the_config():
    """One representation of a size the algorithm chooses: None (YAML null); the string is refused."""
    assert automl.LEEA().requested is None and automl.LEEA(population_size=None).requested is None
    ndes = automl.NDES()
    assert (ndes.requested, ndes.requested_mu, ndes.cp_setting) == (None, None, None)
    with pytest.raises(ArgumentError, match="population_size"):
        automl.LEEA(population_size="auto")
    assert PopulationSettings().leea.population_size is None


def test_the_defaults_are_one_definition_for_python_and_the_config():
    from pipelines import config as configs

    cfg = configs.load_config("train")
    assert isinstance(cfg.population, PopulationSettings) and cfg.population == PopulationSettings()
    for section, cls in SECTIONS.items():
        optimizer = CLASSES[section]()
        assert optimizer.settings == cls() == getattr(cfg.population, section)
        assert optimizer.batch_size == cls().batch_size
    run = automl.DE()
    assert (run.memory_mb, run.validation_candidates, run.checkpoint_seconds, run.jit) == \
        (cfg.population.memory_mb, cfg.population.validation_candidates, cfg.population.checkpoint_seconds,
         cfg.population.jit) == (512.0, 32, 60.0, False)
    assert set(NDES_VARIANTS) | set(SECTIONS) >= set(POPULATION_OPTIMIZERS)


def test_help_shows_every_argument_with_its_documentation():
    for name, cls in CLASSES.items():
        settings = SECTIONS["ndes" if name.startswith("ndes") else name]
        parameters = inspect.signature(cls).parameters
        expected = [*settings.parameters(), *PopulationRunSettings.parameters(), *FitSettings.parameters()]
        assert set(expected) <= set(parameters), name
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
        for argument in expected:
            assert f"        {argument}: " in cls.__doc__, (name, argument)
        assert parameters["batch_size"].default == settings().batch_size
    assert "variant" in inspect.signature(automl.NDES).parameters
    assert "variant" not in inspect.signature(automl.NDES_G).parameters and "variant:" not in automl.NDES_G.__doc__


def test_the_population_section_nests_the_algorithms_and_takes_their_dicts():
    settings = PopulationSettings(memory_mb=64, leea={"sigma": 0.01}, de=automl.DeSettings(mutation="rand1"))
    assert (settings.memory_mb, settings.leea.sigma, settings.de.mutation, settings.es.population_size) == \
        (64.0, 0.01, "rand1", 11)
    assert list(PopulationSettings.parameters())[:4] == ["memory_mb", "validation_candidates", "checkpoint_seconds",
                                                         "jit"]
    assert settings.replace(jit=True).to_dict() == {**settings.to_dict(), "jit": True}
    with pytest.raises(TypeError, match="unexpected keyword argument 'seed'"):
        PopulationSettings(seed=3)  # the run's seed is the config's top-level `seed`
    with pytest.raises(ArgumentError, match="PopulationSettings: argument `memory_mb`"):
        PopulationSettings(memory_mb=-1)


CLI_BAD = [
    ("leea", "population.leea.sigma=-1", "'population.leea.sigma' must be a number > 0, got -1"),
    ("leea", "population.leea.crossover_fraction=0.96",
     "'population.leea.crossover_fraction' must be at most 1 - elite_fraction (0.95)"),
    ("ndes-g", "population.ndes.ccum=0", "'population.ndes.ccum' must be in (0, 1], got 0"),
    ("de", "population.de.mutation=best9", "'population.de.mutation' must be one of 'rand1'"),
    ("cosyne", "population.cosyne.population_size=8",
     "'population.cosyne.children' (its default) must be an even integer >= 2 and below population_size (8), got 10"),
    ("es", "population.es.rho=0", "'population.es.rho' must be an integer >= 1, got 0"),
    ("es", "population.memory_mb=0", "'population.memory_mb' must be a number > 0, got 0"),
]


@pytest.mark.parametrize("optimizer, item, message", CLI_BAD, ids=[c[1] for c in CLI_BAD])
def test_a_bad_population_setting_at_the_command_line_is_one_line_naming_key_and_flag(
        optimizer, item, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--optimizer", optimizer, "--set", item, "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"--set {item}: {message}" in err
    assert not out.exists()


def test_the_settings_module_is_light():
    code = ("import sys, automl.population_settings as s; s.PopulationSettings(); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
