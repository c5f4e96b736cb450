"""Mutation testing: for each small change to a module (a mutant), does some test notice?

Runs mutmut (pinned in requirements.txt) on one module at a time, in a scratch copy of the
repository, with the unit tests that exercise that module (``TESTS``: those that need no built
book), and appends one record per module to ``--record``: mutants made, killed, survived, timed
out or untested, the surviving mutants by name, the seconds it took. Slow — every mutant runs
its tests again — so it is not part of CI.

    python -m bench.mutation --modules nnbook.network nnbook.gradcheck
    python -m bench.mutation --record bench/results/mutation.jsonl   # every module of TESTS
    python -m bench.mutation --modules nnbook.pdf --record bench/results/mutation.jsonl \
        --rerun nnbook.pdf.x_chapters__mutmut_13   # survivors again, after a sharper test

A surviving mutant is either killed by a sharper test, or listed in
``bench/results/mutation-equivalent.md`` with one line saying why, as one of three kinds:
equivalent (nothing can tell it apart; left out of the score), accepted (a behaviour left
unpinned on purpose) or untested behaviour (tested since the module's record); the last two
count as survivors. ``--diffs DIR`` writes the survivors' diffs to read.

A module whose mutants take longer than one sitting (``nnbook.mnist.trainer``'s run its training
tests) is measured in a kept scratch copy: ``--scratch DIR`` makes the copy in ``DIR/MODULE`` or,
when it is there, goes on where the last run stopped (mutmut keeps each mutant's status beside
it), refused if the module has changed since; the record is written when every mutant has been
checked, with the commit the copy was made from and the seconds of all the sittings (each
sitting's start-up included), and the copy is then deleted. Stopping it (Ctrl-C, ``kill``, a
closed terminal) interrupts mutmut, which keeps what it has checked; the mutants being checked
at that moment are checked again next time.

    python -m bench.mutation --modules nnbook.mnist.trainer --scratch ~/.cache/nnbook/mutation \
        --record bench/results/mutation.jsonl   # again, until it records
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path

from bench.provenance import ROOT, append_record, commit, provenance
from nnbook.files import atomic_write

#: The modules whose figures the book states, and the unit tests that exercise each.
TESTS: dict[str, list[str]] = {
    "nnbook.backprop": ["tests/test_backprop.py", "tests/test_biases.py"],
    "nnbook.network": ["tests/test_network.py", "tests/test_backprop.py", "tests/test_biases.py"],
    "nnbook.symbolic": [
        "tests/test_symbolic.py",
        "tests/test_biases.py",
        "tests/test_backprop.py",
        "tests/test_calculator_module.py",
    ],
    "nnbook.gradcheck": ["tests/test_backprop.py", "tests/test_biases.py"],
    "nnbook.spreadsheet": ["tests/test_spreadsheet.py"],
    "nnbook.calculator": ["tests/test_calculator_module.py"],  # the page's tests need a build
    "nnbook.derivative_check": ["tests/test_derivative_check.py"],  # test_check_page.py too
    "nnbook.mnist.manual": ["tests/test_mnist_manual.py"],
    "nnbook.mnist.derivations": ["tests/test_mnist_manual.py"],
    "nnbook.mnist.runs": ["tests/test_mnist_small.py", "tests/test_mnist_trainer.py"],
    "nnbook.mnist.data": ["tests/test_mnist_data.py"],
    "nnbook.mnist.recipes": [
        "tests/test_mnist_graphed.py",
        "tests/test_mnist_trainer.py",
        "tests/test_mnist_small.py",
        "tests/test_mnist_page_training.py",
    ],
    "nnbook.mnist.hardware": ["tests/test_mnist_trainer.py"],
    "nnbook.mnist.networks.registry": ["tests/test_mnist_small.py", "tests/test_mnist_model.py"],
    "nnbook.mnist.export": ["tests/test_mnist_export.py"],
    "nnbook.mnist.page_training": ["tests/test_mnist_page_training.py"],
    "nnbook.pdf": ["tests/test_pdf_document.py"],  # test_pdf.py reads the built PDF
    "nnbook.mnist.summaries": ["tests/test_mnist_small.py", "tests/test_evaluation.py"],
    "nnbook.mnist.checkpoints": [
        "tests/test_mnist_checkpoints.py",
        "tests/test_mnist_trainer.py",
        "tests/test_mnist_small.py",
    ],
    "nnbook.mnist.environment": [
        "tests/test_mnist_environment.py",
        "tests/test_mnist_trainer.py",
        "tests/test_mnist_small.py",
    ],
    "nnbook.cli": [  # through `python -m nnbook`, as a user runs it; the PDF's needs a build
        "tests/test_cli.py",
        "tests/test_mnist_trainer.py",
        "tests/test_mnist_small.py",
        "tests/test_mnist_graphed.py",
        "tests/test_files.py",
    ],
    "nnbook.mnist.trainer": [
        "tests/test_mnist_trainer.py",
        "tests/test_mnist_small.py",
        "tests/test_mnist_graphed.py",
    ],
    "nnbook.mnist.networks.base": [
        "tests/test_mnist_model.py",
        "tests/test_mnist_small.py",
        "tests/test_mnist_trainer.py",
    ],
    "nnbook.mnist.networks.net": ["tests/test_mnist_model.py", "tests/test_mnist_trainer.py"],
    "nnbook.mnist.networks.steps": ["tests/test_mnist_small.py", "tests/test_mnist_model.py"],
    "nnbook.mnist.networks.candidates": ["tests/test_mnist_small.py", "tests/test_mnist_model.py"],
    "nnbook.mnist.layer_report": [
        "tests/test_mnist_model.py",
        "tests/test_mnist_small.py",
        "tests/test_mnist_manual.py",
    ],
    # (networks.frontier is not here: its classes hold constants and no function to mutate)
    "nnbook.files": ["tests/test_files.py"],
    "nnbook.mnist.graphed": ["tests/test_mnist_graphed.py"],
    "nnbook.mnist.allocator": ["tests/test_mnist_allocator.py"],
    "nnbook.mnist.plots": ["tests/test_mnist_plots.py", "tests/test_mnist_small.py"],
    "nnbook.prose": [
        "tests/test_prose.py",
        "tests/test_speed_report.py",
        "tests/test_halving_report.py",
    ],
    "nnbook.mnist.speed_report": ["tests/test_speed_report.py"],
    "nnbook.mnist.halving_report": ["tests/test_halving_report.py"],
    "nnbook.mnist.gpu_report": ["tests/test_gpu_report.py"],
    "nnbook.mnist.small_report": ["tests/test_small_report.py"],
    "nnbook.mnist.training_report": ["tests/test_training_report.py"],
    "nnbook.records": [  # the wheel's test builds the repository's own package, not the copy
        "tests/test_records.py",
        "--deselect=tests/test_records.py::test_the_records_ship_in_the_package_a_colab_install_gets",
    ],
}
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 36: "timeout"}
STATUS |= {24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}


#: The scratch copy's ``subprocess_calls/sitecustomize.py``, which Python imports at the start of
#: every process a test starts (``python -m nnbook``, a bench script, a worker of
#: ``runs.train_together``): mutmut notes only the calls made in its own process, so without it
#: a function that only such a process calls would count as untested, and its mutants never
#: run. While mutmut notes the calls, the process appends each to the test's file.
SUBPROCESS_CALLS = '''"""Note the package's functions this process calls, for the test that started
it."""

import os

if os.environ.get("MUTANT_UNDER_TEST") == "stats" and os.environ.get("NNBOOK_SUBPROCESS_CALLS"):
    from mutmut.mutation import trampoline

    def _note(name, caller=None):
        with open(os.environ["NNBOOK_SUBPROCESS_CALLS"], "a", encoding="utf-8") as calls:
            calls.write(name + "\\n")

    trampoline.record_trampoline_hit = _note
'''

#: The scratch copy's ``conftest.py``. mutmut runs each mutant's tests in a process forked
#: from one that has already imported the package and the tests and run them once: what was
#: computed then (at import, in a ``functools.cache``, in a ``parametrize`` list) would be the
#: unmutated result in every mutant's run, and its mutants would survive unseen; and a cached
#: result is computed by the first test that asks for it, the only one mutmut then runs for its
#: mutants. So each run imports the package and the tests afresh, under its mutant, and no test
#: starts with a cached result.
FRESH_IMPORTS_PLUGIN = '''"""Forget the package and the tests: import them under this mutant;
and forget what the package's functools caches hold before each test, so that every test that
uses a cached result computes it (mutmut runs a mutant's code only for the tests it saw call
it). A process a test starts (the command line, a worker of ``runs.train_together``) imports
the package from here too, the mutant's, not the installed one."""

import os
import sys
import tempfile

import pytest


def pytest_configure(config):
    for name in list(sys.modules):
        if name.split(".")[0] == "nnbook" or name.split(".")[-1].startswith("test_"):
            del sys.modules[name]
    paths = [os.path.abspath("src"), os.path.abspath("subprocess_calls")]
    paths.append(os.environ.get("PYTHONPATH", ""))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """While mutmut notes which test calls which function: a file for the calls of the
    processes this test starts (``subprocess_calls/sitecustomize.py`` writes them)."""
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        handle, path = tempfile.mkstemp(prefix="nnbook-calls-", suffix=".txt")
        os.close(handle)
        os.environ["NNBOOK_SUBPROCESS_CALLS"] = path


def pytest_runtest_makereport(item, call):
    """A test's time, which mutmut's limit for a mutant's tests is made from, counts its
    fixtures' set-up too (mutmut counts the test's call alone): a fixture may start a process."""
    if call.when == "setup" and os.environ.get("MUTANT_UNDER_TEST") == "stats":
        from mutmut.state import state

        state().duration_by_test[item.nodeid] += call.duration


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """The calls of the processes the test started, counted as the test's own (before mutmut
    files the test's calls)."""
    path = os.environ.pop("NNBOOK_SUBPROCESS_CALLS", None)
    if path:
        from mutmut.state import state

        with open(path, encoding="utf-8") as calls:
            state()._stats.update(calls.read().split())
        os.remove(path)


@pytest.fixture(autouse=True)
def forget_cached_results():
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "nnbook":
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()
'''


def module_file(module: str) -> Path:
    return Path("src", *module.split(".")).with_suffix(".py")


def scratch_copy(module: str, tests: list[str], folder: Path | None = None) -> Path:
    """The repository's package, tests and bench in ``folder`` (by default a new temporary
    one), with a pyproject.toml that tells mutmut what to mutate and runs pytest in one process,
    without the chapters."""
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="nnbook-mutation-"))
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("src", "tests", "bench", "book", ".ci", "_config.yml", "_toc.yml", "README.md"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, folder / part)
    (folder / "conftest.py").write_text(FRESH_IMPORTS_PLUGIN)
    (folder / "subprocess_calls").mkdir()
    (folder / "subprocess_calls" / "sitecustomize.py").write_text(SUBPROCESS_CALLS)
    copied = ["bench", "book", ".ci", "_config.yml", "_toc.yml", "README.md", "conftest.py"]
    copied.append("subprocess_calls")
    if module == "nnbook.pdf":  # its tests print a small book: MathJax comes from npm
        (folder / "node_modules").symlink_to(ROOT / "node_modules")
        copied.append("node_modules")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pytest_ini = project["tool"]["pytest"]["ini_options"]
    lines = [
        "[tool.pytest.ini_options]",
        f"pythonpath = {json.dumps(pytest_ini['pythonpath'])}",
        # the tests that read the built book have no book here to read
        "addopts = \"-p no:cacheprovider -p no:randomly -m 'not book'\"",
        f"filterwarnings = {json.dumps(pytest_ini['filterwarnings'])}",
        f"markers = {json.dumps(pytest_ini['markers'])}",
        "",
        "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = [{json.dumps(str(module_file(module)))}]",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        f"also_copy = {json.dumps(copied)}",
        "",
    ]
    (folder / "pyproject.toml").write_text("\n".join(lines))
    return folder


def mutant_results(folder: Path) -> dict[str, str]:
    """Each mutant's status, from the files mutmut leaves beside the mutated sources."""
    found: dict[str, str] = {}
    for meta in (folder / "mutants").rglob("*.meta"):
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            found[name] = "not checked" if code is None else STATUS.get(code, "suspicious")
    return found


def survivor_diffs(folder: Path, survivors: list[str]) -> str:
    """``mutmut show`` of every surviving mutant, one after the other."""
    shown = [
        subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name],
            cwd=folder,
            capture_output=True,
            text=True,
        ).stdout
        for name in survivors
    ]
    return "\n".join(shown)


class UnfinishedError(Exception):
    """A kept scratch copy whose mutants are not all checked yet: run again to go on."""


def kept_copy(module: str, scratch: Path) -> tuple[Path, dict]:
    """``scratch/MODULE``, made now or, when a run made it before, as that run left it; and
    its notes (the commit it was copied from, the seconds spent so far, the sittings). A copy
    of another version of the module is refused: its mutants are not this one's. Its tests may
    have changed since: the copy keeps its own, the record names the copy's commit, and
    ``--rerun`` runs the survivors again with today's tests."""
    folder = scratch / module
    notes_file = folder / "made-from.json"
    if notes_file.exists():
        notes = json.loads(notes_file.read_text())
        source = module_file(module)
        if (folder / source).read_bytes() != (ROOT / source).read_bytes():
            raise ValueError(
                f"{folder} was copied from {notes['commit']}, whose {module} differs from "
                f"this one: delete it to measure this version"
            )
        return folder, notes
    if folder.exists():
        raise ValueError(f"{folder} is not a scratch copy this script made: delete it")
    scratch_copy(module, TESTS[module], folder)
    notes = {"commit": commit(), "seconds": 0.0, "sittings": 0}
    _write_notes(folder, notes)
    return folder, notes


def _write_notes(folder: Path, notes: dict) -> None:
    """The copy's notes, replaced whole (a stop while writing leaves the old ones)."""
    atomic_write(folder / "made-from.json", lambda path: path.write_text(json.dumps(notes)))


def run_mutmut(folder: Path, env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess:
    """``mutmut run ARGS`` in ``folder``. Stopped (Ctrl-C, or ``kill``, which ``main`` turns
    into an exit), it stops mutmut and the workers it forked with it, so none goes on writing
    statuses into a copy the next run takes over."""
    command = [sys.executable, "-m", "mutmut", "run", *args]
    with subprocess.Popen(
        command, cwd=folder, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as process:  # fmt: skip
        try:
            stdout, stderr = process.communicate()
        except BaseException:
            _stop(process)
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


#: Seconds mutmut is given to stop on an interrupt (its workers finish, the statuses it has are
#: saved) before it and its workers are killed.
STOP_GRACE_SECONDS = 30


def _stop(process: subprocess.Popen) -> None:
    """Interrupt mutmut's process group as Ctrl-C would, so that it saves what it has; kill it
    if it has not stopped within ``STOP_GRACE_SECONDS``."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _sitting(
    folder: Path, args: list[str], notes: dict
) -> tuple[subprocess.CompletedProcess, float]:
    """``mutmut run ARGS`` in ``folder`` and its seconds; in a kept copy (``notes`` not empty)
    the seconds of every sitting so far, a stopped one included, noted in the copy."""
    env = os.environ | {"NNBOOK_RUNS": str(folder / "runs"), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    try:
        done = run_mutmut(folder, env, args)
    finally:
        seconds = time.perf_counter() - started
        if notes:
            notes |= {"seconds": notes["seconds"] + seconds, "sittings": notes["sittings"] + 1}
            _write_notes(folder, notes)
            seconds = notes["seconds"]
    return done, seconds


def mutate(
    module: str,
    children: int,
    diffs: Path | None = None,
    only: list[str] | None = None,
    scratch: Path | None = None,
) -> dict[str, object]:
    """Run mutmut on ``module`` (``only``: on these of its mutants alone); its record (without
    provenance). With ``diffs``, the surviving mutants' diffs are written to
    ``diffs/MODULE.diff`` for reading. With ``scratch``, in the kept copy ``scratch/MODULE``
    (see ``kept_copy``), going on where the last run stopped: ``UnfinishedError`` while mutants are
    left unchecked; the record names the commit the copy was made from."""
    tests = TESTS[module]
    notes: dict = {}
    if scratch is None:
        folder = scratch_copy(module, tests)
    else:
        folder, notes = kept_copy(module, scratch)
    done, seconds = _sitting(folder, ["--max-children", str(children), *(only or [])], notes)
    results = mutant_results(folder)
    checked = [status for status in results.values() if status != "not checked"]
    unfinished = done.returncode != 0 or len(checked) < len(results) or not results
    if scratch is not None and unfinished:
        raise UnfinishedError(
            f"{module}: {len(checked)} of {len(results)} mutants checked in {folder} after "
            f"{notes['sittings']} sittings ({seconds:.0f} s; mutmut's exit status "
            f"{done.returncode}): run again to go on.\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    if done.returncode != 0 or not checked:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(
            f"mutmut checked no mutant of {module} (exit status {done.returncode}): its tests "
            f"may fail in the scratch copy.\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    counts = {status: 0 for status in ("killed", "survived", "timeout", "no tests")}
    for status in results.values():
        counts[status] = counts.get(status, 0) + 1
    survivors = sorted(name for name, status in results.items() if status == "survived")
    if diffs is not None:
        diffs.mkdir(parents=True, exist_ok=True)
        (diffs / f"{module}.diff").write_text(survivor_diffs(folder, survivors))
    if scratch is None:  # a kept copy goes once its record is written (main)
        shutil.rmtree(folder, ignore_errors=True)
    kept = {"commit": notes["commit"], "sittings": notes["sittings"]} if notes else {}
    return {
        "module": module,
        "tests": tests,
        "mutants": len(results),
        **counts,
        "survivors": survivors,
        "seconds": seconds,
        **kept,
    }


EQUIVALENT = ROOT / "bench" / "results" / "mutation-equivalent.md"
#: Modules whose survivors have not all been read yet: their "other survivors" are unread, not
#: known to be equivalent (the README says so; every other module's survivors are all listed).
NOT_YET_READ: tuple[str, ...] = ()
#: A mutant's name in backticks, whole (``x_f__mutmut_3``) or, after one, its number (``_4``).
NAME = re.compile(r"`(x\S*?__mutmut_\d+|_\d+)`")


#: The kinds of survivor ``mutation-equivalent.md`` lists under a module: its first list, then
#: one list under a ``### Accepted`` and one under a ``### Untested behaviour`` heading.
KINDS = ("equivalent", "accepted", "untested behaviour")


def listed_mutants(text: str) -> dict[str, dict[str, set[str]]]:
    """Module → kind (``KINDS``) → the mutants ``mutation-equivalent.md`` lists under its heading
    (``## module``); ``_N`` after a whole name is mutant N of that name's function."""
    found: dict[str, dict[str, set[str]]] = {}
    module, function, kind = None, None, KINDS[0]
    for line in text.splitlines():
        if line.startswith(("## ", "### ")):
            level, _, title = line.partition(" ")
            function, kind = None, KINDS[0] if level == "##" else title.strip().lower()
            if level == "##":
                module = title.strip()
                found[module] = {each: set() for each in KINDS}
            elif kind not in KINDS:
                raise ValueError(f"not a kind of survivor: {line!r}")
            continue
        for name in NAME.findall(line) if module else ():
            if name.startswith("x"):
                function = name.rsplit("__mutmut_", 1)[0]
                found[module][kind].add(f"{module}.{name}")
            elif function is not None:
                found[module][kind].add(f"{module}.{function}__mutmut{name}")
    return found


def latest_records(lines: list[str]) -> dict[str, dict]:
    """Each module's last record, in the order the modules were first recorded."""
    latest: dict[str, dict] = {}
    for line in lines:
        record = json.loads(line)
        latest[record["module"]] = record
    return latest


def killed_share(record: dict, equivalent: int) -> float:
    """Killed over the mutants that a test could kill: not untested, not ``equivalent`` of them
    (0: the raw kill rate)."""
    return record["killed"] / max(record["mutants"] - record["no tests"] - equivalent, 1)


def classified(record: dict, listed: dict[str, dict[str, set[str]]]) -> dict[str, list[str]]:
    """``record``'s survivors by kind, as ``mutation-equivalent.md`` lists them now:
    ``equivalent`` (left out of the score) and ``accepted``; the rest are untested behaviour."""
    survivors = set(record["survivors"])
    kinds = listed.get(record["module"], {})
    return {
        kind: sorted(survivors & kinds.get(kind, set())) for kind in ("equivalent", "accepted")
    }


def table(
    lines: list[str],
    listed: dict[str, dict[str, set[str]]],
    modules: Iterable[str] | None = None,
) -> str:
    """The README's table: per module, its last record, its survivors by kind (the record's own
    ``equivalent`` and ``accepted`` where it has them, else ``mutation-equivalent.md``'s), the
    raw kill rate and the score (equivalents left out). With ``modules``, those alone, in the
    records' order, then those with no record yet, marked "not measured"; a record of a module
    no longer there (renamed, split) is left out."""
    rows = [
        "| module | mutants | killed | equivalent | accepted | other survivors | timed out "
        "| untested | raw kill rate | score | run |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    latest = latest_records(lines)
    wanted = list(latest) if modules is None else [m for m in latest if m in set(modules)]
    for module in wanted:
        record = latest[module]
        kinds = {kind: record.get(kind) for kind in ("equivalent", "accepted")}
        if None in kinds.values():
            kinds = classified(record, listed)
        equivalent, accepted = len(kinds["equivalent"]), len(kinds["accepted"])
        others = len(record["survivors"]) - equivalent - accepted
        others_text = f"{others}" + (" unread" if module in NOT_YET_READ else "")
        rows.append(
            f"| `{module}` | {record['mutants']} | {record['killed']} | {equivalent} | "
            f"{accepted} | {others_text} | {record['timeout']} | {record['no tests']} | "
            f"{100 * killed_share(record, 0):.0f} % | "
            f"{100 * killed_share(record, equivalent):.0f} % | {record['seconds']:.0f} s |"
        )
    for module in [m for m in modules or () if m not in latest]:
        rows.append(f"| `{module}` | not measured |" + " |" * 9)
    return "\n".join(rows)


def rerun(module: str, names: list[str], children: int, last: dict) -> dict[str, object]:
    """The record ``last`` of ``module`` with ``names`` (some of its survivors) run again, after
    a test was sharpened: their new statuses replace the old, every other mutant keeps its
    status from ``last``'s full run (same commit of the module, so the same mutants)."""
    unknown = set(names) - set(last["survivors"])
    if unknown:
        raise ValueError(f"not survivors of the last record of {module}: {sorted(unknown)}")
    again = mutate(module, children, only=names)
    if again["mutants"] != last["mutants"]:
        raise ValueError(f"{module} has changed since its last record: rerun it whole")
    killed = [name for name in names if name not in again["survivors"]]
    return last | {
        "killed": last["killed"] + len(killed),
        "survived": last["survived"] - len(killed),
        "survivors": sorted(set(last["survivors"]) - set(killed)),
        "rerun": {"mutants": sorted(names), "killed": sorted(killed), "of": last["commit"],
                  "seconds": again["seconds"]},
    }  # fmt: skip


def listed() -> dict[str, dict[str, set[str]]]:
    """``mutation-equivalent.md`` as it is now: module → kind → mutants."""
    return listed_mutants(EQUIVALENT.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", choices=list(TESTS), default=list(TESTS))
    parser.add_argument("--children", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--record", type=Path, metavar="JSONL")
    parser.add_argument("--diffs", type=Path, metavar="DIR", help="write survivors' diffs here")
    parser.add_argument(
        "--table", type=Path, metavar="JSONL", help="print the README's table of this record"
    )
    parser.add_argument(
        "--scratch", type=Path, metavar="DIR",
        help="measure in the kept copy DIR/MODULE, going on where the last run stopped",
    )  # fmt: skip
    parser.add_argument(
        "--rerun", nargs="+", metavar="MUTANT",
        help="run these survivors of one module's last --record again (after a test was "
        "sharpened) and record the last record with their new statuses",
    )  # fmt: skip
    parser.add_argument(
        "--classify", action="store_true",
        help="after reading the survivors of --modules' last --record into "
        "mutation-equivalent.md: record that record again, its survivors sorted by kind",
    )  # fmt: skip
    args = parser.parse_args()
    if args.scratch and (args.rerun or args.classify or args.table):
        parser.error("--scratch measures a module whole; --rerun, --classify and --table do not")
    for stop in (signal.SIGTERM, signal.SIGHUP):  # as Ctrl-C: mutmut is stopped with us
        signal.signal(stop, lambda number, frame: sys.exit(f"stopped by signal {number}"))
    if args.table:
        lines = args.table.read_text(encoding="utf-8").splitlines()
        print(table(lines, listed(), TESTS))
        return
    if args.rerun or args.classify:
        lines = args.record.read_text(encoding="utf-8").splitlines()
        for module in args.modules:
            last = latest_records(lines)[module]
            if args.rerun:
                origin = provenance("cpu")
                record = origin | rerun(module, args.rerun, args.children, last)
                print(f"{module}: {record['rerun']['killed']} of {args.rerun} killed now")
            else:
                origin = provenance("cpu")  # the reading's command and date; the run's stay
                record = last | {"classified": {k: origin[k] for k in ("command", "date")}}
            append_record(args.record, record | classified(record, listed()))
        return
    for module in args.modules:
        measure(module, args)


def measure(module: str, args: argparse.Namespace) -> None:
    """Measure ``module`` as ``main``'s flags say, print its figures and append its record."""
    origin = provenance("cpu")
    try:
        record = mutate(module, args.children, args.diffs, scratch=args.scratch)
    except UnfinishedError as unfinished:
        sys.exit(str(unfinished))
    print(
        f"{module}: {record['mutants']} mutants, {record['killed']} killed, "
        f"{record['survived']} survived, {record['timeout']} timed out, "
        f"{record['no tests']} untested (raw kill rate "
        f"{100 * killed_share(record, 0):.0f} %) in {record['seconds']:.0f} s",
        flush=True,
    )
    if args.record:
        append_record(args.record, origin | record | classified(record, listed()))
        if args.scratch:  # measured and recorded: the kept copy has done its work
            shutil.rmtree(args.scratch / module, ignore_errors=True)
    elif args.scratch:
        print(f"{args.scratch / module} is kept: no --record to write its result to")


if __name__ == "__main__":
    main()
