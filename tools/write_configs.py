"""Writes configs/<file>.yaml for every config section a settings class defines (automl's
ResBuilderSettings, EvolutionSettings, ...): the class is the definition, the file its
readable copy. tests/test_config.py fails when a file differs from what this writes.

Run: python tools/write_configs.py
"""
from pathlib import Path

from pipelines.config import GENERATED, settings_yaml

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

if __name__ == "__main__":
    files = {name: key for key, (_, name) in GENERATED.items()}  # a file of several sections: written once
    for name, key in files.items():
        (CONFIGS / name).write_text(settings_yaml(key))
        print(f"wrote configs/{name}")
