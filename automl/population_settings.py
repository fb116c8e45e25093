"""The population optimizers' settings: the one definition of each parameter (see automl.settings).

`LeeaSettings`, `NdesSettings`, `DeSettings`, `CosyneSettings` and `EsSettings` are the
arguments of automl.LEEA, NDES (NDES_G, NDES_B), DE, CoSyNE and MuLambdaES, which validate by
constructing them; `PopulationRunSettings` and `FitSettings` are the arguments every one of them
shares (and `BatchSettings` the default of a new subclass). `PopulationSettings` is the `population:` section of `automl train`'s config: the shared
run settings and one section per algorithm (configs/population.yaml is written from it).

A population size left to the algorithm ("auto": LEEA's λ = 2000, nDES's λ = 4N and μ = λ/2,
nDES's c_e = 1/sqrt(N)) is None, in Python as in a config file (YAML null); the optimizer fixes it
once it knows the weight count and the memory budget.

Light on purpose (no TensorFlow): the command line validates `population.*` with these classes.
"""
from __future__ import annotations

import inspect
import math
from typing import Literal

from automl.settings import SEED_RULE, Settings, is_int, is_seed, merged_args_doc
from automl.training_settings import POPULATION_OPTIMIZERS

LEEA_AUTO_POPULATION = 2000  # seed 001 Table 5.1, test column: lambda = 2000
LEEA_CROSSOVERS = ("uniform", "arithmetic")
SIGMA_MODES = ("constant", "decay", "self-adaptive")
NDES_VARIANTS = tuple(name for name in POPULATION_OPTIMIZERS if name.startswith("ndes"))
NDES_INITS = ("xavier", "uniform")
# DE's mutation types and the donors a..e each draws besides the target (automl/population/de.py).
DE_DONORS = {"rand1": 3, "rand2": 4, "best1": 2, "best2": 4, "curtobest1": 2, "randtobest2": 4, "current1": 2}
DE_MUTATIONS = tuple(DE_DONORS)
GENOMES = ("direct", "dct")
ES_SELECTIONS = ("truncated", "rank", "fitness")
ES_CROSSOVERS = ("single", "uniform", "arithmetic", "none")


def _check_genome(settings: Settings, genome, genes) -> None:
    """The genome rules of DE, CoSyNE and the ES."""
    settings.check_choice("genome", genome, GENOMES)
    settings.check_positive("genes", genes, note=" (below 1: a fraction of the weights; else a count)")


class BatchSettings(Settings):
    """The settings of a population optimizer that has no others: the default of a subclass of
    automl.population.PopulationOptimizer that names no settings class of its own.

    Args:
        batch_size: the examples each member is evaluated on in a generation.
    """

    def __init__(self, *, batch_size: int = 64):
        self.check_count("batch_size", batch_size, 1)
        self.batch_size = batch_size


class LeeaSettings(Settings):
    """LEEA, Prellberg's limited-evaluation EA (seed 001 Ch. 5, Algorithm 2); the defaults are the
    test column of Table 5.1 (reference 001 §2.2).

    Args:
        population_size: λ; None (null in a config file): λ = 2000 (Table 5.1, test), capped to memory_mb with a note.
        batch_size: Table 5.1, test: batch 1024 (every member on the same fresh batch).
        truncation: Table 5.1: rho = 0.5.
        elite_fraction: Table 5.1: p_E = 0.05.
        crossover_fraction: Table 5.1, test: p_C = 0.75 (so p_M = 1 - p_E - p_C = 0.20).
        crossover: Table 5.1: uniform crossover; arithmetic is the weighted mean of eq. (4.2).
        exploit_rate: [EXT] gpuea.py --exploit-rate 0.5: a gene from the fitter parent w.p. 0.5.
        sigma: Table 5.1: sigma = 0.001.
        sigma_mode: Table 5.1: constant; decay is eq. (5.3), self-adaptive eq. (5.4).
        decay_steps: not in seed 001 (k of eq. 5.3 is not given): ours.
        tau: not in seed 001 (tau of eq. 5.4): None means 1/sqrt(N), the usual one-sigma self-adaptation rate.
        fitness_inheritance: Table 5.1: alpha = 1, i.e. no fitness inheritance.
    """

    def __init__(self, *, population_size: int | None = None, batch_size: int = 1024, truncation: float = 0.5,
                 elite_fraction: float = 0.05, crossover_fraction: float = 0.75,
                 crossover: Literal[LEEA_CROSSOVERS] = "uniform", exploit_rate: float = 0.5, sigma: float = 0.001,
                 sigma_mode: Literal[SIGMA_MODES] = "constant", decay_steps: float = 100.0,
                 tau: float | None = None, fitness_inheritance: float = 1.0):
        if population_size is not None:
            self.check_count("population_size", population_size, 2)
        self.check_count("batch_size", batch_size, 1)
        for name, value in (("truncation", truncation), ("elite_fraction", elite_fraction),
                            ("crossover_fraction", crossover_fraction), ("exploit_rate", exploit_rate),
                            ("fitness_inheritance", fitness_inheritance)):
            self.check_unit(name, value)
        self.check("crossover_fraction", crossover_fraction, elite_fraction + crossover_fraction <= 1,
                   f"at most 1 - elite_fraction ({1 - elite_fraction:g}): the mutation fraction is the rest")
        self.check_choice("crossover", crossover, LEEA_CROSSOVERS)
        self.check_positive("sigma", sigma)
        self.check_choice("sigma_mode", sigma_mode, SIGMA_MODES)
        self.check_positive("decay_steps", decay_steps)
        if tau is not None:
            self.check_positive("tau", tau, zero=True)
        self.population_size, self.batch_size = population_size, batch_size
        self.truncation, self.elite_fraction = float(truncation), float(elite_fraction)
        self.crossover_fraction, self.crossover = float(crossover_fraction), crossover
        self.exploit_rate = float(exploit_rate)
        self.sigma, self.sigma_mode, self.decay_steps = float(sigma), sigma_mode, float(decay_steps)
        self.tau = None if tau is None else float(tau)
        self.fitness_inheritance = float(fitness_inheritance)


class NdesSettings(Settings):
    """nDES, nDES-G and nDES-B (seed 000 B.2, Algorithm 1 and L964-L994); [code] = fuine/nDES
    (reference 000 §2.1.5).

    Args:
        population_size: λ; None (null in a config file): λ = 4N (seed 000 L1075, the DES authors' advice; [code] default), capped to memory_mb with a note.
        mu: None (null): λ / 2 ([code]).
        batch_size: seed 000 L1014: batch 64.
        history: seed 000 L1014: history 16.
        ccum: seed 000 L1014: c_cum = 0.96 (c_d of Algorithm 1).
        cp: not in the seed: None (null) means [code] cp = 1/sqrt(N) (c_e of Algorithm 1).
        bounds: seed 000 L1014: weights bounded to [-2, 2].
        tol: [code] tol = 1e-6: the random-noise scale and the restart threshold.
        init: xavier: seed 000 L964 ([code] XavierMVNPopulationInitializer); uniform: the RNN scripts' U(-a, a).
        uniform_init: [code] RNN scripts: StartFromUniformPopulationInitializer, a = 0.4.
        gradient_lr: [code] FashionMNIST script: lr = 1, nDES-G's gradient step epsilon.
        ewma: seed 000 L968-L974: fixed batches with EWMA-relative fitness; False: raw batch losses.
        bootstrap_fraction: ours (the seed runs Adam until early stopping): nDES-B's Adam phase takes at most half the epochs.
        bootstrap_patience: [code] nDES-B bootstrap: EarlyStopping patience 3 on the validation loss.
        bootstrap_lr: [code] nDES-B bootstrap: Adam with its default lr 1e-3.
        max_population: ours: an upper bound on the automatic lambda.
    """

    def __init__(self, *, population_size: int | None = None, mu: int | None = None, batch_size: int = 64,
                 history: int = 16, ccum: float = 0.96, cp: float | None = None, bounds: float = 2.0,
                 tol: float = 1e-6, init: Literal[NDES_INITS] = "xavier", uniform_init: float = 0.4,
                 gradient_lr: float = 1.0, ewma: bool = True, bootstrap_fraction: float = 0.5,
                 bootstrap_patience: int = 3, bootstrap_lr: float = 1e-3, max_population: int = 100_000):
        if population_size is not None:
            self.check_count("population_size", population_size, 4)
        if mu is not None:
            most = math.inf if population_size is None else population_size  # an automatic λ: checked once fixed
            self.check("mu", mu, is_int(mu) and 1 <= mu <= most,
                       "an integer >= 1" if population_size is None else f"an integer in [1, population_size ({most})]")
        self.check_count("batch_size", batch_size, 1)
        self.check_count("history", history, 1)
        self.check_unit("ccum", ccum, low_open=True)
        if cp is not None:
            self.check_unit("cp", cp, low_open=True, note=", or None for 1/sqrt(N)")
        self.check_positive("bounds", bounds)
        self.check_positive("tol", tol, zero=True)
        self.check_choice("init", init, NDES_INITS)
        self.check_positive("uniform_init", uniform_init)
        self.check_positive("gradient_lr", gradient_lr)
        self.check_bool("ewma", ewma)
        self.check_unit("bootstrap_fraction", bootstrap_fraction, high_open=True)
        self.check_count("bootstrap_patience", bootstrap_patience, 0)
        self.check_positive("bootstrap_lr", bootstrap_lr)
        self.check_count("max_population", max_population, 4)
        self.population_size, self.mu, self.batch_size, self.history = population_size, mu, batch_size, history
        self.ccum, self.cp = float(ccum), None if cp is None else float(cp)
        self.bounds, self.tol, self.init, self.uniform_init = float(bounds), float(tol), init, float(uniform_init)
        self.gradient_lr, self.ewma, self.bootstrap_fraction = float(gradient_lr), ewma, float(bootstrap_fraction)
        self.bootstrap_patience, self.bootstrap_lr = bootstrap_patience, float(bootstrap_lr)
        self.max_population = max_population


class DeSettings(Settings):
    """Differential evolution (seed 003 L89-93, L227-232). Seed 003's DE, CoSyNE and ES defaults
    are its best configs for its largest net (reference 003 §1.6, Rec L=4 h=10, 1,212 weights,
    direct), chosen over the FF n=8 row on digits validation accuracy (DE 83% vs 40%, CoSyNE 67%
    vs 31%, ES 62% vs 51%).

    Args:
        population_size: seed 003 best config (Rec L=4 h=10, direct): population 13.
        batch_size: seed 003 L122: batches of 40.
        crossover_rate: same config: CR 0.4.
        mutation: same config: best1; rand1 is the textbook DE/rand/1/bin (the others: rand2, best2, curtobest1, randtobest2, current1).
        scale: same config: F 0.5.
        genome: seed 003: direct or dct (indirect encoding, L59-61).
        genes: dct genes as a fraction of the weights (reference 003 §1.6: 1031-1139 genes for 1,212 weights; the seed gives [500, 1550], L143), or a count if 1 or more.
    """

    def __init__(self, *, population_size: int = 13, batch_size: int = 40, crossover_rate: float = 0.4,
                 mutation: Literal[DE_MUTATIONS] = "best1", scale: float = 0.5,
                 genome: Literal[GENOMES] = "direct", genes: float = 0.5):
        self.check_choice("mutation", mutation, DE_MUTATIONS)
        members = DE_DONORS[mutation] + 1
        self.check_count("population_size", population_size, members,
                         f" (mutation {mutation!r} takes {members - 1} members besides the target)")
        self.check_count("batch_size", batch_size, 1)
        self.check_unit("crossover_rate", crossover_rate)
        self.check_positive("scale", scale)
        _check_genome(self, genome, genes)
        self.population_size, self.batch_size, self.crossover_rate = population_size, batch_size, float(crossover_rate)
        self.mutation, self.scale, self.genome, self.genes = mutation, float(scale), genome, genes


class CosyneSettings(Settings):
    """CoSyNE, cooperative synapse neuroevolution (seed 003 L75-87, L218-225).

    Args:
        population_size: seed 003 best config (Rec L=4 h=10, direct): population 14.
        batch_size: seed 003 L122: batches of 40.
        children: same config: 10 offspring per generation (even: children come in pairs).
        mutation_rate: same config: mutation probability 0.02.
        gamma: same config: Cauchy scale 0.217.
        genome: seed 003: direct or dct.
        genes: dct genes as a fraction of the weights, or a count if 1 or more.
    """

    def __init__(self, *, population_size: int = 14, batch_size: int = 40, children: int = 10,
                 mutation_rate: float = 0.02, gamma: float = 0.217, genome: Literal[GENOMES] = "direct",
                 genes: float = 0.5):
        self.check_count("population_size", population_size, 2)
        self.check_count("batch_size", batch_size, 1)
        self.check("children", children, is_int(children) and children >= 2 and children % 2 == 0
                   and children < population_size,
                   f"an even integer >= 2 and below population_size ({population_size})")
        self.check_unit("mutation_rate", mutation_rate)
        self.check_positive("gamma", gamma)
        _check_genome(self, genome, genes)
        self.population_size, self.batch_size, self.children = population_size, batch_size, children
        self.mutation_rate, self.gamma, self.genome, self.genes = float(mutation_rate), float(gamma), genome, genes


class EsSettings(Settings):
    """Seed 003's EA, a (mu/rho, lambda) evolution strategy (L95-99, L234-245).

    Args:
        population_size: seed 003 best config (Rec L=4 h=10, direct): lambda 11.
        batch_size: seed 003 L122: batches of 40.
        parent_fraction: same config: mu = 0.5 lambda.
        rho: same config: 3 parents per child.
        selection: same config: truncation selection (truncated); or rank or fitness (fitness-proportional).
        crossover: same config: single-point crossover ("single swap"); or uniform, arithmetic, none.
        mutation_rate: same config: mutation probability 0.5.
        sigma: same config: sigma 0.1.
        elitism: same config: elitism off.
        genome: seed 003: direct or dct.
        genes: dct genes as a fraction of the weights, or a count if 1 or more.
    """

    def __init__(self, *, population_size: int = 11, batch_size: int = 40, parent_fraction: float = 0.5,
                 rho: int = 3, selection: Literal[ES_SELECTIONS] = "truncated",
                 crossover: Literal[ES_CROSSOVERS] = "single", mutation_rate: float = 0.5, sigma: float = 0.1,
                 elitism: bool = False, genome: Literal[GENOMES] = "direct", genes: float = 0.5):
        self.check_count("population_size", population_size, 2)
        self.check_count("batch_size", batch_size, 1)
        self.check_unit("parent_fraction", parent_fraction, low_open=True)
        self.check_count("rho", rho, 1)
        self.check_choice("selection", selection, ES_SELECTIONS)
        self.check_choice("crossover", crossover, ES_CROSSOVERS)
        self.check_unit("mutation_rate", mutation_rate)
        self.check_positive("sigma", sigma, zero=True)
        self.check_bool("elitism", elitism)
        _check_genome(self, genome, genes)
        self.population_size, self.batch_size, self.parent_fraction = population_size, batch_size, float(parent_fraction)
        self.rho, self.selection, self.crossover = rho, selection, crossover
        self.mutation_rate, self.sigma, self.elitism = float(mutation_rate), float(sigma), elitism
        self.genome, self.genes = genome, genes


class PopulationRunSettings(Settings):
    """How every population optimizer runs: its memory, its validation and its checkpoints.

    Args:
        memory_mb: ours: the population state and evaluation must fit this; auto sizes are capped to it (with a note), set sizes that cannot fit are refused. Seed 001 held 8,000 x 92k weights in 16 GB: raise it on a GPU.
        validation_candidates: ours: the best members validated after each epoch (nDES validates its whole population, seed 000 L984).
        checkpoint_seconds: ours: the population state is saved at most this often (and at the end or a budget stop).
        jit: ours, measured: XLA made the vectorised evaluation slower on CPU (MLP 19 vs 12 ms, CNN 644 vs 323 ms at P = 256) and cannot compile Keras RNNs.
    """

    def __init__(self, *, memory_mb: float = 512.0, validation_candidates: int = 32, checkpoint_seconds: float = 60.0,
                 jit: bool = False):
        self.check_positive("memory_mb", memory_mb)
        self.check_count("validation_candidates", validation_candidates, 1)
        self.check_positive("checkpoint_seconds", checkpoint_seconds, zero=True)
        self.check_bool("jit", jit)
        self.memory_mb, self.validation_candidates = float(memory_mb), validation_candidates
        self.checkpoint_seconds, self.jit = float(checkpoint_seconds), jit


class FitSettings(Settings):
    """What every population optimizer's `fit` takes from its constructor besides the run settings.

    Args:
        seed: seed of the population, the batches and every generation's randomness (generation g draws from (seed, g), so a resumed run continues exactly).
        validation_every: validate the candidates every this many epochs (and after the last); 1: every epoch.
    """

    def __init__(self, *, seed: int = 0, validation_every: int = 1):
        self.check("seed", seed, is_seed(seed), SEED_RULE)
        self.check_count("validation_every", validation_every, 1)
        self.seed, self.validation_every = int(seed), validation_every


# The algorithm sections of `population:` and their settings classes; nDES-G and nDES-B read `ndes`.
SECTIONS = {"leea": LeeaSettings, "ndes": NdesSettings, "de": DeSettings, "cosyne": CosyneSettings, "es": EsSettings}


def section_of(optimizer: str) -> str:
    """The `population:` section an optimizer name reads (ndes-g and ndes-b: ndes)."""
    return "ndes" if optimizer in NDES_VARIANTS else optimizer


class PopulationSettings(PopulationRunSettings):
    """Gradient-free training (issue #5): `automl train --optimizer leea|ndes|ndes-g|ndes-b|de|cosyne|es`.
    The run settings every optimizer shares, then one section per algorithm (nDES-G and nDES-B
    read `ndes`).

    Args:
        leea: LEEA's settings (LeeaSettings, or a dict of its arguments): seed 001 Ch. 5, Algorithm 2; the test column of Table 5.1 (reference 001 §2.2).
        ndes: nDES's, nDES-G's and nDES-B's (NdesSettings, or a dict): seed 000 B.2, Algorithm 1 and L964-L994; [code] = fuine/nDES (reference 000 §2.1.5).
        de: DE's (DeSettings, or a dict): seed 003 L89-93, L227-232. Seed 003's DE, CoSyNE and ES defaults: its best configs for its largest net (reference 003 §1.6, Rec L=4 h=10, 1,212 weights, direct), chosen over the FF n=8 row on digits validation accuracy (DE 83% vs 40%, CoSyNE 67% vs 31%, ES 62% vs 51%).
        cosyne: CoSyNE's (CosyneSettings, or a dict): seed 003 L75-87, L218-225.
        es: the (mu/rho, lambda)-ES's (EsSettings, or a dict): seed 003's EA (L95-99, L234-245).
    """

    def __init__(self, *, leea: LeeaSettings | None = None, ndes: NdesSettings | None = None,
                 de: DeSettings | None = None, cosyne: CosyneSettings | None = None, es: EsSettings | None = None,
                 **run):
        unknown = set(run) - set(PopulationRunSettings.parameters())
        if unknown:
            raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
        PopulationRunSettings.__init__(self, **run)
        for name, value in (("leea", leea), ("ndes", ndes), ("de", de), ("cosyne", cosyne), ("es", es)):
            cls = SECTIONS[name]
            setattr(self, name, value if isinstance(value, cls) else cls(**(value or {})))


# Its keywords: the run settings first (as the config file lists them), then the sections.
PopulationSettings.__init__.__signature__ = inspect.Signature([
    inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *PopulationRunSettings.parameters().values(),
    *(p for p in inspect.signature(PopulationSettings.__init__).parameters.values()
      if p.kind is inspect.Parameter.KEYWORD_ONLY)])
PopulationSettings.__doc__ = (PopulationSettings.__doc__.rstrip() + "\n" + "\n".join(
    "    " + line for line in merged_args_doc(PopulationRunSettings).splitlines()[1:]) + "\n")
