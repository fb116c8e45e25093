"""Mutations of the population optimizers' settings classes (issue 17): the rules written once in
automl/population_settings.py, the optimizers' use of them, and the config wiring. See
tools/mutations.py."""

SETTINGS = "automl/population_settings.py"
T = "tests/test_population_settings.py::"
BAD = T + "test_a_bad_argument_to_a_population_optimizer_names_the_argument_and_the_value"
BOUNDARY = T + "test_rules_that_relate_two_arguments_hold_at_their_boundary"

MUTATIONS = [
    dict(id="ps-leea-fractions-sum", mechanism="LEEA: p_E + p_C <= 1 (the mutants are the rest, seed 001 Table 5.1)",
         what="bound loosened", file=SETTINGS,
         find="elite_fraction + crossover_fraction <= 1,", replace="elite_fraction + crossover_fraction <= 1.1,",
         tests=[BOUNDARY]),
    dict(id="ps-de-mutation-choice-cut", mechanism="DE: the mutation is one of seed 003's types",
         what="rule dropped", file=SETTINGS,
         find='self.check_choice("mutation", mutation, DE_MUTATIONS)', replace="pass",
         tests=[BAD + "[de-mutation]"]),
    dict(id="ps-de-donors-off-by-one", mechanism="DE: the population holds the target and its mutation's donors",
         what="off-by-one (the target not counted)", file=SETTINGS,
         find="members = DE_DONORS[mutation] + 1", replace="members = DE_DONORS[mutation]",
         tests=[BOUNDARY]),
    dict(id="ps-es-parent-fraction-closed", mechanism="ES: parent_fraction in (0, 1]",
         what="open bound closed (< became <=)", file=SETTINGS,
         find='self.check_unit("parent_fraction", parent_fraction, low_open=True)',
         replace='self.check_unit("parent_fraction", parent_fraction)',
         tests=[BAD + "[es-parent_fraction]", BOUNDARY]),
    dict(id="ps-cosyne-children-odd", mechanism="CoSyNE: children come in pairs (an even count)",
         what="rule dropped", file=SETTINGS,
         find="children >= 2 and children % 2 == 0", replace="children >= 2",
         tests=[BAD + "[cosyne-children]", BOUNDARY]),
    dict(id="ps-ndes-mu-above-lambda", mechanism="nDES: mu at most the population size",
         what="bound dropped", file=SETTINGS,
         find="is_int(mu) and 1 <= mu <= most", replace="is_int(mu) and 1 <= mu",
         tests=[BOUNDARY]),
    dict(id="ps-memory-unchecked", mechanism="every optimizer: memory_mb > 0",
         what="rule dropped", file=SETTINGS,
         find='self.check_positive("memory_mb", memory_mb)', replace="pass",
         tests=[BAD + "[leea-memory_mb]", BOUNDARY]),
    dict(id="ps-error-names-settings-class", mechanism="an optimizer's argument error names the class the caller called",
         what="wrong owner (the settings class)", file="automl/population/base.py",
         find="raise ArgumentError(type(self).__name__, e.argument, e.value, e.expected)",
         replace="raise ArgumentError(e.owner, e.argument, e.value, e.expected)",
         tests=[BAD + "[de-mutation]"]),
    dict(id="ps-pipe-run-settings-dropped", mechanism="population optimizer built from the config (the shared run settings)",
         what="argument group ignored (the defaults)", file="pipelines/population.py",
         find="**PopulationRunSettings.of(pop).to_dict(), ", replace="",
         tests=["tests/test_population_cli.py::test_every_population_setting_in_the_config_reaches_its_optimizer"]),
]
