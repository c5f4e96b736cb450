"""``nnbook.mnist.small_report``: rows and evaluations made here, their figures by hand."""

from dataclasses import replace

import pandas as pd
import pytest

from nnbook.mnist import small_report
from nnbook.mnist.recipes import ANSWER_RECIPE
from nnbook.mnist.summaries import Evaluation
from nnbook.mnist.targets import HELD_EPOCHS
from nnbook.prose import Markdown

HELD = f"min of last {HELD_EPOCHS} (%)"
SEEDS = (1, 2, 3)


def seeds_row(finals=(99.41, 99.38, 99.52), lowest=99.31, held=2, threads=1, **extra):
    row = {f"seed {seed} (%)": final for seed, final in zip(SEEDS, finals, strict=True)}
    return (
        row
        | {
            "min final (%)": min(finals),
            "mean final (%)": sum(finals) / len(finals),
            HELD: lowest,
            "seeds held": held,
            "holds": held == len(SEEDS),
            "command": "python -m bench.experiments.seeds --model tiny",
            "commit": "abcdef0123456789",
            "date": "2026-12-01",
            "cpu": "AMD EPYC",
            "threads": threads,
        }
        | extra
    )


def test_a_network_on_the_selection_seeds():
    figures = small_report.seeds_figures(pd.Series(seeds_row()), "tiny")
    assert figures == {
        "tiny-held": 2,
        "tiny-lowest": 99.31,
        "tiny-mean": pytest.approx(99.4366667),
    }
    assert type(figures["tiny-held"]) is int and type(figures["tiny-lowest"]) is float
    assert small_report.finals(seeds_row(), [3, 1]) == [99.52, 99.41]


def test_where_a_row_comes_from_and_what_it_did():
    record = small_report.seeds_record(seeds_row(), SEEDS)
    assert record == (
        "`python -m bench.experiments.seeds --model tiny` trained this step with seeds 1, 2, 3 "
        "on an AMD EPYC (1 thread, 2026-12-01, commit `abcdef0`, `bench/results/seeds.jsonl`): "
        f"final test accuracies 99.41, 99.38, 99.52 %; the lowest of any run's last {HELD_EPOCHS}"
        " epochs 99.31 %; the target held in each last epoch on 2 of the 3 seeds."
    )
    assert isinstance(record, Markdown)
    source = small_report.record_of(seeds_row(threads=2))
    assert source == (
        "`python -m bench.experiments.seeds --model tiny`, on an AMD EPYC (2 threads a run, "
        "2026-12-01, commit `abcdef0`)"
    )
    assert isinstance(source, Markdown)


def test_the_hold_verdict():
    assert small_report.hold_verdict(seeds_row(held=3), 0.994) == (
        "it holds the target on every seed"
    )
    assert small_report.hold_verdict(seeds_row(lowest=99.31), 0.994) == (
        "it does not yet hold it on every seed: 0.09 points short at the lowest"
    )


def evaluation(epochs, held, seeds=(101, 102, 103), interval=(0.1, 0.9)):
    table = pd.DataFrame(epochs, index=[f"seed {seed}" for seed in seeds])
    line = {
        "command": "python -m bench.experiments.seeds --evaluation-seeds",
        "cpu": "AMD EPYC",
        "vector instructions": "AVX512",
        "threads": 1,
        "date": "2026-12-02",
        "commit": "0123456789abcdef",
    }
    return Evaluation(
        model="separable-31", line=line, seeds=seeds, last_epochs=table, held=held,
        target=0.994, confidence=0.95, interval=interval,
    )  # fmt: skip


def test_a_network_judged_on_fresh_seeds():
    # each seed's lowest last epoch: 99.45, 99.35, 99.38; spread 0.10; 102 and 103 missed
    judged = evaluation([[99.45, 99.5], [99.35, 99.6], [99.4, 99.38]], held=1)
    figures = small_report.evaluation_figures(judged, "judged")
    assert figures == {
        "judged-held": 1,
        "judged-low": 10.0,
        "judged-high": 90.0,
        "judged-lowest": 99.35,
        "judged-spread": pytest.approx(0.10),
        "judged-missed": "102, 103",
        "judged-record": "`python -m bench.experiments.seeds --evaluation-seeds` on an AMD EPYC "
        "(AVX512, 1 thread a run, 2026-12-02, commit `0123456`)",
    }
    assert isinstance(figures["judged-record"], Markdown)


def test_the_latest_limits_a_network_ran_under():
    records = [
        {"model": "separable-31", "instruction limits": {"ONEDNN_MAX_CPU_ISA": "SSE41"}},
        {"model": "separable-31", "instruction limits": {"ONEDNN_MAX_CPU_ISA": "AVX2"}},
        {"model": "separable-31"},
        {"model": "separable-31", "instruction limits": {"ONEDNN_MAX_CPU_ISA": "AVX2_VNNI"}},
        {"model": "tiny", "instruction limits": {"ONEDNN_MAX_CPU_ISA": "SSE41"}},
    ]
    limits = small_report.limited_kernels(records, "separable-31")
    assert limits == {"ONEDNN_MAX_CPU_ISA": "AVX2_VNNI"}
    with pytest.raises(ValueError, match="no run of 'net' under instruction limits"):
        small_report.limited_kernels(records, "net")


def test_the_same_runs_with_other_kernels():
    own = pd.DataFrame([[99.41, 99.45], [99.50, 99.52]])
    other = pd.DataFrame([[99.38, 99.45], [99.50, 99.61]])  # 2 of 4 figures differ
    figures = small_report.kernels_figures(own, other, 0.994)
    assert figures == {
        "avx2-held": 1,  # the first seed's 99.38 is below
        "avx2-lowest": 99.38,
        "avx2-differ": "2 of the",
        "avx2-figures": 4,
        "avx2-largest-difference": pytest.approx(0.09),
    }
    every = small_report.kernels_figures(own, own + 0.01, 0.994)
    assert every["avx2-differ"] == "all" and every["avx2-held"] == 2
    at_target = small_report.kernels_figures(own, pd.DataFrame([[99.4, 99.4]] * 2), 0.994)
    assert at_target["avx2-held"] == 2  # at the target is holding it
    with pytest.raises(ValueError, match=r"differ in shape: \(2, 2\) and \(1, 2\)"):
        small_report.kernels_figures(own, other.iloc[:1], 0.994)


def frontier_table(rows):
    columns = ["parameters", "min final (%)", "mean final (%)", HELD, "holds"]
    return pd.DataFrame(rows, columns=["name", *columns]).set_index("name").astype(object)


def test_the_smallest_network_of_the_frontier_that_reaches_the_target():
    frontier = frontier_table(
        [
            ("tiny", 5000, 99.45, 99.5, 99.40, True),
            ("tiny-8", 3000, 99.40, 99.45, 99.35, False),
            ("separable-31", 4734, 99.41, 99.48, 99.41, True),
            ("separable-19", 2886, 99.39, 99.41, 99.30, False),
            ("tiny-5", 1500, 99.10, 99.2, 99.0, False),
        ]
    )
    figures = small_report.frontier_figures(frontier, 0.994)
    assert figures == {
        "frontier-smallest-name": "tiny-8",  # 99.40 reaches 99.4
        "frontier-smallest-parameters": 3000,
        "frontier-smallest-lowest": 99.35,
        "frontier-smallest-holds": False,
        "frontier-narrowest": 1500,
        "frontier-narrowest-mean": 99.2,
    }
    assert type(figures["frontier-smallest-parameters"]) is int
    assert type(figures["frontier-smallest-holds"]) is bool
    assert type(figures["frontier-narrowest-mean"]) is float
    holding = frontier.copy()
    holding.loc["tiny-8", "holds"] = True
    assert small_report.frontier_figures(holding, 0.994)["frontier-smallest-holds"] is True
    with pytest.raises(ValueError, match=r"^no network of the frontier reaches 99\.5 % on every"):
        small_report.frontier_figures(frontier, 0.995)


def test_what_the_first_epochs_weigh_in_the_average_at_the_end():
    # decay 0.99, 10 steps an epoch, 3 epochs of 15 early: 120 later updates, 0.99 ** 120
    recipe = replace(ANSWER_RECIPE, epochs=15, ema_decay=0.99)
    assert small_report.early_share(recipe, 10, 3) == pytest.approx(100 * 0.99**120)
    assert small_report.early_share(recipe, 10, 14) == pytest.approx(100 * 0.99**10)
    assert small_report.early_share(recipe, 10, 1) == pytest.approx(100 * 0.99**140)
    for early in (0, 15):
        with pytest.raises(ValueError, match=f"^early_epochs must be from 1 to 14, got {early}$"):
            small_report.early_share(recipe, 10, early)


def test_seeds_held_against_an_earlier_version():
    change = small_report.held_change
    assert change(seeds_row(held=3), seeds_row(held=2)) == "on 3 seeds instead of 2"
    assert change(seeds_row(held=2), seeds_row(held=2)) == "on 2 seeds, as before"
    assert change(seeds_row(held=1), seeds_row(held=0)) == "on 1 seed instead of 0"
