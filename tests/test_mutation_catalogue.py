"""The mutation check's catalogue (tools/mutants/) stays true to the code: every mutation applies
exactly once where it says, and names tests that exist. A refactoring that moves a mechanism turns
this red, so its mutations are moved with it rather than silently lost."""
import re
from pathlib import Path

import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent


TOOL = load_script("mutations_tool", ROOT / "tools" / "mutations.py")
CATALOGUE = TOOL.load_catalogue()


def test_the_catalogue_covers_models_automl_and_pipelines_with_at_least_30_mutations():
    assert len(CATALOGUE) >= 30
    assert {m.file.split("/")[0] for m in CATALOGUE} >= {"models", "automl", "pipelines"}
    assert len({m.id for m in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("mutation", CATALOGUE, ids=lambda m: m.id)
def test_each_mutation_applies_once_and_names_existing_tests(mutation):
    assert TOOL.check_applies(mutation, ROOT) >= 1
    assert mutation.tests and mutation.mechanism and mutation.what
    for node in mutation.tests:
        path, _, name = node.partition("::")
        function = re.sub(r"\[.*\]$", "", name)
        assert (ROOT / path).is_file(), node
        assert re.search(rf"^def {re.escape(function)}\(", (ROOT / path).read_text(), re.M), node
