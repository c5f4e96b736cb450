"""Every figure the book reads from ``bench/results/*.jsonl`` says where it came from."""

import json
import re
import sys

import pytest
from built_book import ROOT

from bench.provenance import FIELDS, INSTRUCTION_LIMITS, provenance

RECORDS = sorted((ROOT / "bench" / "results").glob("*.jsonl"))


def test_there_are_records():
    names = {path.name for path in RECORDS}
    assert {"gpu.jsonl", "speed.jsonl", "seeds.jsonl", "backprop.jsonl", "halve.jsonl"} <= names


@pytest.mark.parametrize("path", RECORDS, ids=lambda path: path.name)
def test_every_line_parses_and_names_its_provenance(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines, f"{path.name} is empty"
    for number, line in enumerate(lines, start=1):
        record = json.loads(line)
        missing = [field for field in FIELDS if not record.get(field)]
        assert not missing, f"{path.name}:{number} names no {missing}"
        # ``python -m bench.…`` since bench/ is a package; ``python bench/….py`` before
        assert record["command"].startswith(("python -m bench.", "python bench/")), (
            path.name,
            number,
        )
        assert record.get("cpu") or record.get("gpu"), f"{path.name}:{number}: no hardware"
        assert len(record["commit"].split("+")[0]) == 40, f"{path.name}:{number}: commit"


@pytest.mark.parametrize(
    ("script", "program"),
    [
        ("bench/timing/speed.py", ["python", "-m", "bench.timing.speed"]),
        ("bench/mutation.py", ["python", "-m", "bench.mutation"]),
        ("src/nnbook/cli.py", ["python", "src/nnbook/cli.py"]),
    ],
)
def test_a_record_names_the_command_as_run_from_the_root(monkeypatch, script, program):
    monkeypatch.setattr(sys, "argv", [str(ROOT / script), "--record", "x.jsonl"])
    assert provenance()["command"] == " ".join([*program, "--record", "x.jsonl"])


def test_a_record_names_the_instruction_limits_it_ran_under(monkeypatch):
    for name in INSTRUCTION_LIMITS:
        monkeypatch.delenv(name, raising=False)
    assert "instruction limits" not in provenance()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "")  # empty: not a limit
    assert provenance()["instruction limits"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}


@pytest.mark.book
def test_the_page_training_figures_the_book_states_are_the_records():
    """The digit page quotes the last line of train_page.jsonl: the same numbers, as glued."""
    from built_book import HTML

    record = json.loads(
        (ROOT / "bench" / "results" / "train_page.jsonl").read_text().splitlines()[-1]
    )
    from bs4 import BeautifulSoup

    html = (HTML / "book" / "part2" / "digits.html").read_text(encoding="utf-8")
    page = " ".join(BeautifulSoup(html, "html.parser").get_text().split())
    quoted = [
        f"{record['page ms per step']:.0f} ms",
        f"{record['torch float64 ms per step']:.1f} ms",
        f"{record['torch float32 ms per step']:.1f} ms",
        f"{record['pass']['seconds']:.0f} s",
        f"{100 * record['pass']['test accuracy']:.1f} %",
    ]
    assert [figure for figure in quoted if figure not in page] == []


def test_every_surviving_mutant_is_listed_as_equivalent_and_nothing_else():
    """The last mutation record of each module: its survivors are exactly the mutants
    ``mutation-equivalent.md`` lists for it, each with its reason and as one kind (equivalent,
    accepted, untested behaviour; README: the table), but for the modules not yet read, whose
    list holds no mutant that survived no longer."""
    from bench.mutation import EQUIVALENT, KINDS, NOT_YET_READ, latest_records, listed_mutants

    lines = (ROOT / "bench" / "results" / "mutation.jsonl").read_text().splitlines()
    listed = listed_mutants(EQUIVALENT.read_text(encoding="utf-8"))
    for module, record in latest_records(lines).items():
        kinds = listed.get(module, {kind: set() for kind in KINDS})
        every = set().union(*kinds.values())
        assert sum(map(len, kinds.values())) == len(every), module  # each of one kind only
        survivors = set(record["survivors"])
        assert every <= survivors, module  # nothing listed that a test now kills
        if module not in NOT_YET_READ:
            assert survivors == every, module
    assert set(listed) <= set(latest_records(lines)), "a module listed but never measured"


def test_a_records_kinds_are_the_lists_of_mutation_equivalent():
    """Where a module's last record sorts its survivors by kind itself (``equivalent``,
    ``accepted``), they are the lists of ``mutation-equivalent.md``: the record and the reading
    say the same."""
    from bench.mutation import classified, latest_records, listed

    lines = (ROOT / "bench" / "results" / "mutation.jsonl").read_text().splitlines()
    for module, record in latest_records(lines).items():
        if "equivalent" in record:
            kinds = {kind: record[kind] for kind in ("equivalent", "accepted")}
            assert kinds == classified(record, listed()), module


def test_the_table_gives_the_raw_kill_rate_beside_the_score():
    """Raw: killed over the tested mutants; score: the same without the equivalent ones. The
    accepted and the other survivors count against both."""
    from bench.mutation import table

    record = {
        "module": "m", "mutants": 110, "killed": 80, "survived": 20, "timeout": 0,
        "no tests": 10, "seconds": 5.0, "survivors": [f"m.x_f__mutmut_{n}" for n in range(20)],
        "equivalent": [f"m.x_f__mutmut_{n}" for n in range(12)],
        "accepted": ["m.x_f__mutmut_12"],
    }  # fmt: skip
    row = table([json.dumps(record)], {}).splitlines()[-1]
    assert row == "| `m` | 110 | 80 | 12 | 1 | 7 | 0 | 10 | 80 % | 91 % | 5 s |"
    del record["equivalent"], record["accepted"]  # an older record: the reading's lists
    listed = {"m": {"equivalent": {"m.x_f__mutmut_0"}, "accepted": set()}}
    row = table([json.dumps(record)], listed).splitlines()[-1]
    assert row == "| `m` | 110 | 80 | 1 | 0 | 19 | 0 | 10 | 80 % | 81 % | 5 s |"
    # of the modules asked for: a record of another is left out, one with none is marked
    rows = table([json.dumps(record)], listed, modules=["n"]).splitlines()[2:]
    assert rows == ["| `n` | not measured | | | | | | | | | |"]


def test_the_kinds_of_survivor_are_read_apart():
    """Only the first list under a module is equivalent (left out of the score); the accepted
    and the untested are survivors, each under its heading."""
    from bench.mutation import listed_mutants

    text = (
        "# title\n\n## m\n\n- `x_f__mutmut_1`, `_2` — same.\n\n### Accepted\n\n"
        "- `x_g__mutmut_3` — cosmetic.\n\n### Untested behaviour\n\n- `_4` — no function: "
        "not read.\n- `x_f__mutmut_5` — tested since.\n\n## n\n\n- `x_h__mutmut_6` — same.\n"
    )
    assert listed_mutants(text) == {
        "m": {
            "equivalent": {"m.x_f__mutmut_1", "m.x_f__mutmut_2"},
            "accepted": {"m.x_g__mutmut_3"},
            "untested behaviour": {"m.x_f__mutmut_5"},
        },
        "n": {"equivalent": {"n.x_h__mutmut_6"}, "accepted": set(), "untested behaviour": set()},
    }
    with pytest.raises(ValueError, match="not a kind of survivor"):
        listed_mutants("## m\n\n### Maybe\n")


def test_the_readmes_mutation_table_is_the_records():
    """README quotes the table ``bench/mutation.py --table`` prints from the record, as it is."""
    from bench.mutation import TESTS, listed, table

    lines = (ROOT / "bench" / "results" / "mutation.jsonl").read_text().splitlines()
    printed = table(lines, listed(), TESTS)
    assert printed in (ROOT / "README.md").read_text(encoding="utf-8")


# nnbook.records: the one place the chapters read records from


def test_the_package_knows_every_record_and_the_script_that_writes_it():
    from nnbook import records

    assert set(records.RECORDS) == {path.stem for path in RECORDS}
    for name, scripts in records.RECORDS.items():
        for script in scripts.split(" and "):
            assert (ROOT / script).is_file(), (name, script)


def chapters_reading_records() -> dict[str, set[str]]:
    """Each record a chapter reads (``records.read("NAME")``, ``records.latest("NAME")``), and
    the titles of the chapters that read it."""
    reading: dict[str, set[str]] = {}
    for notebook in sorted((ROOT / "book").rglob("*.ipynb")):
        if "_build" in notebook.parts:
            continue
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = "".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        headings = (
            line.removeprefix("# ").strip()
            for cell in cells
            if cell["cell_type"] == "markdown"
            for line in cell["source"]
            if line.startswith("# ")
        )
        title = next(headings, notebook.stem)
        for name in re.findall(r'\.(?:read|latest)\("(\w+)"\)', code):
            reading.setdefault(name, set()).add(title)
    return reading


def test_the_readmes_table_of_records_is_the_scripts_and_the_chapters_that_read_them():
    """README's table "script, record, chapter": a row for each record a chapter reads, naming
    the scripts ``nnbook.records.RECORDS`` names for it and the chapters that read it."""
    from nnbook import records

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| (`bench/[^|]+`) \| `(\w+)\.jsonl` \| ([^|]+) \|$", readme, re.MULTILINE
    )
    table = {record: (scripts, chapter.strip()) for scripts, record, chapter in rows}
    assert len(table) == len(rows)  # a row per record
    reading = chapters_reading_records()
    assert set(table) == set(reading)
    for record, (scripts, chapter) in table.items():
        named = re.findall(r"`(bench/[\w/]+\.py)`", scripts)
        assert named == records.RECORDS[record].split(" and ")
        assert all((ROOT / script).is_file() for script in named)
        assert {chapter} == reading[record], record


@pytest.mark.parametrize("path", RECORDS, ids=lambda path: path.name)
def test_a_record_read_through_the_package_is_the_file_in_bench(path):
    from nnbook import records

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records.read(path.stem) == lines
    assert records.latest(path.stem) == lines[-1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"command": "x"}\n{"command": \n', r"broken\.jsonl, line 2: not JSON"),
        ('{"command": "x"}\n[1, 2]\n', r"broken\.jsonl, line 2: not a JSON object"),
        ("", r"broken\.jsonl holds no line: bench/experiments/seeds\.py"),
    ],
)
def test_a_broken_record_is_an_error_naming_its_line(tmp_path, monkeypatch, text, message):
    from nnbook import records

    (tmp_path / "broken.jsonl").write_text(text, encoding="utf-8")
    monkeypatch.setitem(records.RECORDS, "broken", "bench/experiments/seeds.py")
    monkeypatch.setattr(records, "record_file", lambda name: tmp_path / f"{name}.jsonl")
    with pytest.raises(ValueError, match=message):
        records.read("broken")


def test_a_missing_or_unknown_record_is_an_error_naming_what_to_do(tmp_path, monkeypatch):
    from nnbook import records

    with pytest.raises(ValueError, match=r"no record 'seed': the records are backprop, "):
        records.read("seed")
    monkeypatch.setattr(records, "files", lambda package: tmp_path)
    missing = r"seeds\.jsonl is missing: bench/experiments/seeds\.py and "
    with pytest.raises(ValueError, match=missing):
        records.latest("seeds")


def test_the_records_ship_in_the_package_a_colab_install_gets(tmp_path):
    """``pip install`` of the repository (Colab's first cell) builds this wheel: the chapters'
    records must be inside it, byte for byte."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("nnbook-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            name.removeprefix("nnbook/records/"): archive.read(name)
            for name in archive.namelist()
            if name.startswith("nnbook/records/")
        }
    assert shipped == {path.name: path.read_bytes() for path in RECORDS}
