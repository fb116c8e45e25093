"""Run directories: `runs/<name>/` with the resolved config, the JSONL log, checkpoints,
the best model and the summary. Every write is atomic (automl.io)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from automl.errors import UsageError
from automl.io import atomic_write_json, atomic_write_text, make_folder


class RunDir:
    CONFIG = "config.yaml"
    META = "meta.json"
    LOG = "log.jsonl"
    SUMMARY = "summary.json"
    BEST = "best.keras"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @staticmethod
    def default_path(command: str, dataset: str) -> Path:
        tag = Path(dataset).name if "/" in dataset else dataset
        return Path("runs") / f"{command}-{tag}-{time.strftime('%Y%m%d-%H%M%S')}"

    @classmethod
    def create(cls, path: str | Path, command: str, config: dict, header: str | None = None) -> "RunDir":
        run = cls(path)
        if run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
            raise UsageError(
                f"run directory {run.path} already exists; pass --resume to continue it, "
                "or choose another --out"
            )
        make_folder(run.path, "run directory")
        header = header or f"# Resolved config of `automl {command}`; --resume reads it back.\n"
        atomic_write_text(run.path / cls.CONFIG, header + yaml.safe_dump(config, sort_keys=False))
        atomic_write_json(run.path / cls.META, {"command": command, "created": time.time()})
        return run

    @classmethod
    def ensure(cls, path: str | Path, command: str, config: dict, header: str | None = None) -> "RunDir":
        """The run directory at `path`, made (config and meta) unless it holds one already, even
        where the folder exists (a Keras Tuner project inside it, made first)."""
        run = cls(path)
        if not (run.path / cls.CONFIG).is_file():
            run.path.mkdir(parents=True, exist_ok=True)
            atomic_write_text(run.path / cls.CONFIG, (header or "") + yaml.safe_dump(config, sort_keys=False))
            atomic_write_json(run.path / cls.META, {"command": command, "created": time.time()})
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not run.path.is_dir():
            raise UsageError(f"no run directory at {run.path}")
        if not (run.path / cls.CONFIG).is_file():
            raise UsageError(f"{run.path} is not a run directory (it has no {cls.CONFIG})")
        return run

    def discard_if_untouched(self) -> None:
        """Remove a run that failed before it trained anything (only its config and meta)."""
        if {p.name for p in self.path.iterdir()} <= {self.CONFIG, self.META}:
            for p in self.path.iterdir():
                p.unlink()
            self.path.rmdir()

    # -- contents ----------------------------------------------------------------------
    @property
    def best_path(self) -> Path:
        return self.path / self.BEST

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def config(self) -> dict:
        return yaml.safe_load((self.path / self.CONFIG).read_text())

    def meta(self) -> dict:
        return json.loads((self.path / self.META).read_text())

    def update_meta(self, **values) -> None:
        atomic_write_json(self.path / self.META, {**self.meta(), **values})

    def records(self) -> list[dict]:
        path = self.path / self.LOG
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def append_record(self, record: dict) -> None:
        """Rewrites the whole log atomically, so a kill never leaves a torn last line."""
        lines = [json.dumps(r, default=str) for r in self.records() + [record]]
        atomic_write_text(self.path / self.LOG, "\n".join(lines) + "\n")

    def completed(self) -> dict | None:
        """The summary of a finished run; None if it is new, interrupted, or ended by its budget
        (a budget-ended run continues: `--resume --budget 10m`, or search() again)."""
        done = self.summary()
        if done is None or done.get("budget", {}).get("ended_by") == "budget":
            return None
        return done

    def summary(self) -> dict | None:
        path = self.path / self.SUMMARY
        return json.loads(path.read_text()) if path.exists() else None

    def write_summary(self, summary: dict) -> None:
        """The run's summary, then its report.html (automl.html_report), which reads it."""
        atomic_write_json(self.path / self.SUMMARY, summary)
        from automl.html_report import write_html_report  # matplotlib; Keras for the first architecture picture

        write_html_report(self)
