"""Mutation check: proves that the tests turn red when a mechanism of the seeds is broken.

Each mutation in `tools/mutants/*.py` (a list `MUTATIONS` of dicts with the fields of `Mutation`,
one file per area) is one small, plausible bug (a comparison flipped, a term
dropped, an off-by-one, a weight swapped, a wire cut) in one source file, with the tests that
should catch it. The check copies the tree (the files git tracks, and untracked ones it does not
ignore) into a temporary folder, proves those tests pass there unmutated, then applies each
mutation in turn and runs its tests against the copy: the copy, not an installed tree, is first
on the path. A mutation whose tests still pass *survived*: a missing test, never a reason to drop
the mutation.

Writes benchmarks/results/mutations.{md,json} (mechanism, mutation, caught, by which test) and
exits 1 if any mutation survived, 2 on a catalogue that no longer matches the code (the text a
mutation replaces must occur exactly once in its file).

Run: python tools/mutations.py [--only ID ...] [--area AREA ...] [--jobs N] [--fresh] [--list]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = Path(__file__).resolve().parent / "mutants"
RESULTS = ROOT / "benchmarks" / "results"
PACKAGES = ("automl", "models", "pipelines")


@dataclass(frozen=True)
class Mutation:
    """One deliberate bug.

    Args:
        id: short unique name, e.g. "rb-momentum-flip".
        mechanism: the seed's mechanism it breaks, as a reader would name it.
        file: the source file, relative to the repository root.
        find: text that occurs exactly once in `file`.
        replace: what it becomes.
        tests: pytest node ids (relative to the root) expected to catch it.
        what: the kind of bug, in words ("comparison flipped", "term dropped", ...).
    """

    id: str
    mechanism: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]
    what: str = ""
    area: str = field(default="", compare=False)


class CatalogueError(Exception):
    """The catalogue does not match the code (a mutation's text is missing or ambiguous)."""


def load_catalogue() -> list[Mutation]:
    mutations: list[Mutation] = []
    for path in sorted(CATALOGUE.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"mutants_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for entry in module.MUTATIONS:
            mutations.append(Mutation(**{**entry, "tests": tuple(entry["tests"]), "area": path.stem}))
    ids = [m.id for m in mutations]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise CatalogueError(f"mutation ids used twice: {', '.join(repeated)}")
    return mutations


def check_applies(m: Mutation, root: Path) -> int:
    """The 1-based line where the mutation applies; CatalogueError unless it applies exactly once."""
    path = root / m.file
    if not path.exists():
        raise CatalogueError(f"{m.id}: {m.file} does not exist")
    text = path.read_text()
    found = text.count(m.find)
    if found != 1:
        raise CatalogueError(f"{m.id}: the text to replace occurs {found} times in {m.file} (must be once): "
                             f"{m.find!r}")
    if m.find == m.replace:
        raise CatalogueError(f"{m.id}: the replacement equals the original")
    return text[: text.index(m.find)].count("\n") + 1


def copy_tree(dest: Path) -> None:
    """The files git tracks and the untracked ones it does not ignore, as in the working tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def environment(copy: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a stale .pyc of the unmutated file must never be used
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def check_path(copy: Path) -> None:
    """The copy's packages, not an installed tree, are what the tests import."""
    code = "import " + ", ".join(PACKAGES) + "; print('\\n'.join(m.__file__ for m in (" + ", ".join(PACKAGES) + ")))"
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env=environment(copy), capture_output=True,
                         text=True, check=True).stdout.split()
    stray = [f for f in out if not Path(f).resolve().is_relative_to(copy.resolve())]
    if stray:
        raise SystemExit(f"mutations: the copy is not first on the path; imported {stray}")


# Third-party modules imported once, before any test process is forked: each test run then starts
# in about a second instead of the ~8 s TensorFlow and friends take to import. The project's own
# packages are never imported here, so every forked run imports them from its (mutated) copy.
PRELOAD = ("numpy", "scipy", "pandas", "sklearn", "matplotlib.pyplot", "yaml", "tensorflow", "keras",
           "keras_tuner", "lifelines", "pytest")


def preload() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the tests that need it will say so
    ours = sorted({m.split(".")[0] for m in sys.modules} & {*PACKAGES, "tests", "conftest"})
    if ours:
        raise SystemExit(f"mutations: the project's own modules were imported before forking: {ours}")


class TestRun:
    """pytest on `tests` in `copy`, in a forked child of this preloaded process (or, with
    fresh=True, a new interpreter); poll() until it returns its result."""

    def __init__(self, copy: Path, tests, timeout: float, fresh: bool = False):
        self.report = Path(tempfile.mkstemp(suffix=".xml")[1])
        self.log = Path(tempfile.mkstemp(suffix=".log")[1])
        self.started = time.perf_counter()
        self.timeout = timeout
        args = ["-x", "-q", "-p", "no:cacheprovider", f"--junitxml={self.report}", *tests]
        if fresh:
            with open(self.log, "w") as log:
                self.proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=copy,
                                             env=environment(copy), stdout=log, stderr=subprocess.STDOUT)
            self.pid = self.proc.pid
            return
        self.proc = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: become a test process of the copy
            code = 1
            try:
                os.chdir(copy)
                os.environ.update(environment(copy))
                sys.path.insert(0, str(copy))
                fd = os.open(self.log, os.O_WRONLY | os.O_TRUNC)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                import pytest
                code = int(pytest.main(args))
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def poll(self) -> dict | None:
        """None while running; then {"rc", "failed", "seconds", "tail"}."""
        seconds = time.perf_counter() - self.started
        if self.proc is not None:
            rc = self.proc.poll()
        else:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            rc = os.waitstatus_to_exitcode(status) if pid else None
        if rc is None and seconds > self.timeout:
            os.kill(self.pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait()
            else:
                os.waitpid(self.pid, 0)
            rc = "timeout"
        if rc is None:
            return None
        failed = []
        if self.report.stat().st_size:
            for case in ET.parse(self.report).getroot().iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    failed.append(f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}")
        tail = self.log.read_text(errors="replace")[-3000:]
        self.report.unlink(missing_ok=True)
        self.log.unlink(missing_ok=True)
        return {"rc": rc, "failed": failed, "seconds": seconds, "tail": tail}

    def wait(self) -> dict:
        while (result := self.poll()) is None:
            time.sleep(0.05)
        return result


def verdict(result: dict) -> str:
    rc = result["rc"]
    if rc == 0:
        return "survived"
    if rc == 5:
        return "no tests ran"
    if rc == "timeout":
        return "caught (timeout)"
    return "caught" if result["failed"] else "error"


def write_results(rows: list[dict], seconds: float, jobs: int) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    caught = sum(r["verdict"].startswith("caught") for r in rows)
    lines = ["# Mutation check", "",
             f"{caught} of {len(rows)} mutations caught; {seconds / 60:.1f} min with {jobs} job(s) on {os.cpu_count()} CPU cores "
             f"(`python tools/mutations.py`). Each row is one deliberate bug applied to a copy of the tree; "
             "*by* is the first test that failed.", "",
             "| id | mechanism | mutation | where | caught | by |", "|---|---|---|---|---|---|"]
    for r in rows:
        mutation = f"{r['what']}: `{_cell(r['find'])}` → `{_cell(r['replace'])}`"
        by = "<br>".join(f"`{t}`" for t in r["by"]) or "—"
        lines.append(f"| {r['id']} | {r['mechanism']} | {mutation} | {r['file']}:{r['line']} | "
                     f"{r['verdict']} | {by} |")
    (RESULTS / "mutations.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "mutations.json").write_text(json.dumps({"caught": caught, "total": len(rows),
                                                        "seconds": round(seconds, 1), "rows": rows}, indent=2) + "\n")


def _cell(text: str) -> str:
    text = " ".join(text.split())
    return (text if len(text) <= 70 else text[:67] + "...").replace("|", "\\|")


def run_all(mutations: list[Mutation], copies: list[Path], lines: dict, timeout: float, fresh: bool) -> list[dict]:
    """Each mutation applied in a free copy while its tests run there, len(copies) at a time."""
    pending, running, rows = list(mutations), {}, {}
    while pending or running:
        while pending and len(running) < len(copies):
            m = pending.pop(0)
            copy = next(c for c in copies if c not in {c for c, _, _ in running.values()})
            path = copy / m.file
            original = path.read_text()
            path.write_text(original.replace(m.find, m.replace, 1))
            running[m.id] = (copy, original, (m, TestRun(copy, m.tests, timeout, fresh)))
        for key, (copy, original, (m, run)) in list(running.items()):
            result = run.poll()
            if result is None:
                continue
            (copy / m.file).write_text(original)
            del running[key]
            found = verdict(result)
            rows[m.id] = {**asdict(m), "tests": list(m.tests), "line": lines[m.id], "verdict": found,
                          "by": result["failed"], "seconds": round(result["seconds"], 1)}
            by = result["failed"][0] if result["failed"] else ""
            print(f"{found:>16}  {m.id:30s} {result['seconds']:6.1f}s  {by}", flush=True)
            if found in ("error", "no tests ran"):
                print(result["tail"], flush=True)
        time.sleep(0.05)
    return [rows[m.id] for m in mutations]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutations")
    parser.add_argument("--area", nargs="+", metavar="AREA", help="run only these catalogue files (stems)")
    parser.add_argument("--jobs", type=int, default=1, help="mutations run at once, each in its own copy")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for one mutation's tests")
    parser.add_argument("--fresh", action="store_true",
                        help="run each test process in a new interpreter instead of forking a preloaded one")
    parser.add_argument("--skip-baseline", action="store_true", help="do not first prove the tests pass unmutated")
    parser.add_argument("--list", action="store_true", help="list the catalogue and check it applies, then stop")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/mutations.*")
    args = parser.parse_args(argv)
    try:
        mutations = load_catalogue()
        if args.only:
            unknown = set(args.only) - {m.id for m in mutations}
            if unknown:
                raise CatalogueError(f"unknown mutation ids: {', '.join(sorted(unknown))}")
            mutations = [m for m in mutations if m.id in args.only]
        if args.area:
            mutations = [m for m in mutations if m.area in args.area]
        lines = {m.id: check_applies(m, ROOT) for m in mutations}
    except CatalogueError as e:
        print(f"mutations: {e}", file=sys.stderr)
        return 2
    if args.list:
        for m in mutations:
            print(f"{m.id:28s} {m.file}:{lines[m.id]}  {m.mechanism}")
        print(f"{len(mutations)} mutations")
        return 0

    started = time.perf_counter()
    jobs = max(1, min(args.jobs, len(mutations)))
    if not args.fresh:
        preload()
    with tempfile.TemporaryDirectory(prefix="automl-mutations-") as tmp:
        copies = [Path(tmp) / f"copy{i}" for i in range(jobs)]
        for copy in copies:
            copy_tree(copy)
        check_path(copies[0])
        if not args.skip_baseline:
            tests = sorted({t for m in mutations for t in m.tests})
            print(f"baseline: {len(tests)} tests on the unmutated copy ...", flush=True)
            base = TestRun(copies[0], tests, max(args.timeout, 60 * len(mutations)), args.fresh).wait()
            if base["rc"] != 0:
                print(f"mutations: the tests fail without any mutation ({base['failed'] or base['rc']}):\n"
                      f"{base['tail']}", file=sys.stderr)
                return 1
            print(f"baseline passed in {base['seconds']:.0f} s", flush=True)
        rows = run_all(mutations, copies, lines, args.timeout, args.fresh)
    seconds = time.perf_counter() - started
    if not args.no_write and not args.only and not args.area:
        write_results(rows, seconds, jobs)
    missed = [r["id"] for r in rows if not r["verdict"].startswith("caught")]
    print(f"{len(rows) - len(missed)} of {len(rows)} caught in {seconds / 60:.1f} min"
          + (f"; not caught: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
