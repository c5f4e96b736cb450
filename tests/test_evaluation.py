"""Judging a network on evaluation seeds (``nnbook.mnist.summaries.evaluation_report``): the
held rate and its Clopper-Pearson interval, against a computation of their own."""

import math
from dataclasses import asdict

import pytest
from scipy.stats import beta

from nnbook.mnist import recipes, targets
from nnbook.mnist.networks import ANSWER, build_model, parameter_count
from nnbook.mnist.summaries import (
    evaluation_report,
    evaluation_table,
    evaluations_by_kernels,
    held_rate_interval,
    kernels_of,
    model_summaries,
    provenance_of,
    role_of,
    seeds_table,
)

RECIPE = recipes.recipe_for(ANSWER)


def line(seeds, runs, role="evaluation", model=ANSWER, recipe=RECIPE, **more):
    """A hand-made line of the seeds record, as ``bench/experiments/seeds.py`` writes it."""
    fields = {
        "command": "python -m bench.experiments.seeds", "commit": "a" * 40, "date": "2026-12-06",
        "cpu": "CPU", "threads": 1, "model": model,
        "parameters": parameter_count(build_model(model)),
        "multiply-adds per image": int(model_summaries().loc[model, "MACs per image"]),
        "recipe": asdict(recipe), "seeds": seeds, "accuracy per epoch": runs,
    }  # fmt: skip
    if role is not None:
        fields["role"] = role
    return fields | more


def run(*last):
    """A run of a few epochs ending in ``last`` (fractions)."""
    return [0.5, 0.9, *last]


def tail_at_least(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


@pytest.mark.parametrize(("held", "runs"), [(0, 10), (1, 10), (7, 10), (9, 10), (10, 10), (3, 5)])
def test_the_interval_is_clopper_pearsons(held, runs):
    low, high = held_rate_interval(held, runs)
    # Clopper and Pearson's bounds as beta quantiles ...
    assert low == pytest.approx(0.0 if held == 0 else beta.ppf(0.025, held, runs - held + 1))
    assert high == pytest.approx(1.0 if held == runs else beta.ppf(0.975, held + 1, runs - held))
    # ... and as their definition, from binomial tails summed by hand: at the lower bound, as
    # many held runs or more have probability 2.5 %; at the upper one, as few or fewer
    if held > 0:
        assert tail_at_least(held, runs, low) == pytest.approx(0.025)
    if held < runs:
        assert 1 - tail_at_least(held + 1, runs, high) == pytest.approx(0.025)
    assert low <= held / runs <= high


def test_ten_of_ten_is_not_certainty():
    low, high = held_rate_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / 10))  # about 69 %
    assert low < 0.7


@pytest.mark.parametrize(("held", "runs"), [(11, 10), (-1, 10), (0, 0), (1.0, 2)])
def test_an_impossible_count_is_an_error(held, runs):
    with pytest.raises(ValueError, match="held <= runs"):
        held_rate_interval(held, runs)
    with pytest.raises(ValueError, match="confidence"):
        held_rate_interval(1, 2, confidence=95)


def test_the_report_reads_the_latest_evaluation_line():
    good, short = run(0.9941, 0.9950, 0.9945), run(0.9950, 0.9939, 0.9960)
    records = [
        line([1, 2, 3], [short, short, short], role=None),  # selection, from before roles
        line([101, 102], [short, short]),  # an earlier evaluation, superseded
        line([101, 102, 103], [good, short, good]),
        line([104], [good], recipe=recipes.FINAL_RECIPE),  # another recipe
        line([105], [good], **{"instruction limits": {"ATEN_CPU_CAPABILITY": "avx2"}}),
        line([4, 5], [good, good], role="selection"),
    ]
    report = evaluation_report(records, ANSWER, RECIPE)
    assert report.seeds == (101, 102, 103) and report.runs == 3
    assert report.held == 2 and report.rate == pytest.approx(2 / 3) and report.missed == [102]
    assert report.interval == held_rate_interval(2, 3)
    assert report.lowest == pytest.approx(99.39)
    assert report.spread == pytest.approx(99.41 - 99.39)
    assert list(report.last_epochs.index) == ["seed 101", "seed 102", "seed 103"]
    assert list(report.last_epochs.columns) == ["epoch 3", "epoch 4", "epoch 5"]
    assert report.last_epochs.loc["seed 102"].tolist() == pytest.approx([99.5, 99.39, 99.6])
    assert report.line is records[2]
    avx2 = evaluation_report(records, ANSWER, RECIPE, limits={"ATEN_CPU_CAPABILITY": "avx2"})
    assert avx2.seeds == (105,) and avx2.held == 1
    # a target of one's own
    assert evaluation_report(records, ANSWER, RECIPE, target=0.9930).held == 3
    # selection tables never read evaluation lines, nor the report selection ones
    table = seeds_table(records[:1] + records[2:], [ANSWER], RECIPE, (1, 2, 3))
    assert table.loc[ANSWER, "seeds held"] == 0
    with pytest.raises(ValueError, match="no run of"):
        seeds_table(records[1:], [ANSWER], RECIPE, (101,))


def test_a_missing_or_bad_evaluation_is_a_clear_error():
    good = run(0.995, 0.995, 0.995)
    selection = line([1, 2], [good, good], role=None)
    with pytest.raises(ValueError, match="no run of separable-31 on evaluation seeds"):
        evaluation_report([selection], ANSWER, RECIPE)
    with pytest.raises(ValueError, match="under"):
        evaluation_report([line([101], [good])], ANSWER, RECIPE, limits={"A": "b"})
    with pytest.raises(ValueError, match=r"evaluation seeds \[2\] of .* are selection seeds"):
        evaluation_report([selection, line([2, 101], [good, good])], ANSWER, RECIPE)
    with pytest.raises(ValueError, match="pairs 1 runs with seeds"):
        evaluation_report([line([101, 102], [good])], ANSWER, RECIPE)
    with pytest.raises(ValueError, match="pairs"):
        evaluation_report([line([101, 101], [good, good])], ANSWER, RECIPE)
    with pytest.raises(ValueError, match="fewer than 3"):
        evaluation_report([line([101], [[0.99, 0.995]])], ANSWER, RECIPE)
    with pytest.raises(ValueError, match="fractions"):
        evaluation_report([line([101], [[99.5, 99.5, 99.5]])], ANSWER, RECIPE)
    with pytest.raises(ValueError, match="role 'test'"):
        evaluation_report([line([101], [good], role="test")], ANSWER, RECIPE)
    with pytest.raises(ValueError, match="unknown model"):
        evaluation_report([line([101], [good])], "huge", RECIPE)


def test_a_missing_evaluation_says_exactly_what_to_run():
    good = run(0.995, 0.995, 0.995)
    command = (
        "run `python -m bench.experiments.seeds --model separable-31 --evaluation-seeds --record "
        "bench/results/seeds.jsonl` from the repository's root"
    )
    for judge in (evaluation_report, evaluations_by_kernels):
        with pytest.raises(ValueError) as missing:
            judge([line([1], [good], role=None)], ANSWER, RECIPE)
        assert str(missing.value) == (
            f"the seeds record has no run of separable-31 on evaluation seeds: {command}"
        )
    with pytest.raises(ValueError) as limited:
        evaluation_report([line([101], [good])], ANSWER, RECIPE, limits={"A": "b"})
    assert str(limited.value) == (
        f"the seeds record has no run of separable-31 on evaluation seeds under {{'A': 'b'}}: "
        f"{command}"
    )
    with pytest.raises(ValueError) as bad_role:
        role_of({"model": ANSWER, "role": "test"})
    assert str(bad_role.value) == (
        "a line of 'separable-31' has role 'test', not one of ('selection', 'evaluation')"
    )


def test_the_reports_edges_accuracies_of_0_and_1_a_last_epoch_at_the_target():
    """An accuracy of 0 or 1 is a fraction, 1.5 is not; a run whose lowest last epoch is the
    target exactly holds it; only the last epochs count, however long the run."""
    edges = [0.0, 0.5, 1.0, 0.995, 1.0]  # its lowest last epoch: the target exactly
    report = evaluation_report([line([101], [edges])], ANSWER, RECIPE, target=0.995)
    assert report.model == ANSWER and report.held == 1
    late = [0.5, 0.9, 0.95, 0.97, 0.98, 0.995, 0.996, 0.997]  # low in epochs 4 and 5
    assert evaluation_report([line([101], [late])], ANSWER, RECIPE, target=0.994).held == 1
    with pytest.raises(ValueError, match="fractions"):
        evaluation_report([line([101], [[0.9, 1.5, 0.99]])], ANSWER, RECIPE)


def test_the_reports_interval_has_the_confidence_asked_for():
    runs = [run(0.995, 0.995, 0.995)] * 3 + [run(0.99, 0.99, 0.99)]
    records = [line([101, 102, 103, 104], runs)]
    report = evaluation_report(records, ANSWER, RECIPE, confidence=0.8)
    assert report.interval == held_rate_interval(3, 4, 0.8) != held_rate_interval(3, 4)
    low, high = held_rate_interval(7, 10, 0.8)
    assert low == pytest.approx(beta.ppf(0.1, 7, 4)) and high == pytest.approx(beta.ppf(0.9, 8, 3))


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.5])
def test_a_confidence_outside_0_to_1_is_an_error(confidence):
    with pytest.raises(ValueError) as error:
        held_rate_interval(3, 4, confidence)
    assert str(error.value) == f"confidence must be between 0 and 1, got {confidence}"


def test_a_line_without_a_role_is_of_selection_seeds():
    assert role_of({"model": "tiny"}) == "selection"
    assert role_of({"role": "evaluation"}) == "evaluation"


def test_the_evaluation_seeds_serve_no_choice():
    chosen = {*targets.HOLD_SEEDS, *targets.FINAL_SEEDS}
    assert len(targets.EVALUATION_SEEDS) >= 10
    assert not chosen & set(targets.EVALUATION_SEEDS)


AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def test_a_network_is_judged_once_per_set_of_kernels_the_record_has():
    good, short = run(0.9941, 0.9950, 0.9945), run(0.9950, 0.9939, 0.9960)
    own = {"vector instructions": "AVX512"}
    limited = {"vector instructions": "AVX2", "instruction limits": AVX2}
    records = [
        line([101, 102], [short, short], **limited),  # the limited runs, recorded first
        line([101, 102, 103], [good, short, good], **own),
        line([101], [good], recipe=recipes.FINAL_RECIPE, **{"vector instructions": "AVX2"},
             **{"instruction limits": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}}),  # other recipe
        line([101, 102], [good, good], model="separable-19", **own),  # another network
        line([101, 102], [good, short], **limited),  # supersedes the first
    ]  # fmt: skip
    judged = evaluations_by_kernels(records, ANSWER, RECIPE)
    assert list(judged) == ["AVX512", "AVX2, limited"]  # the CPU's own first, one per limits
    assert judged["AVX512"].line is records[1] and judged["AVX2, limited"].line is records[4]
    assert [j.held for j in judged.values()] == [2, 1]
    assert judged["AVX2, limited"].missed == [102]
    assert (
        evaluations_by_kernels(records, ANSWER, RECIPE, target=0.9930)["AVX2, limited"].held == 2
    )
    with pytest.raises(ValueError, match="no run of separable-31 on evaluation seeds"):
        evaluations_by_kernels(records[3:4], ANSWER, RECIPE)


def test_the_kernels_name_the_instructions_and_whether_they_were_limited():
    assert kernels_of({"vector instructions": "AVX512"}) == "AVX512"
    assert kernels_of({"vector instructions": "AVX2", "instruction limits": AVX2}) == (
        "AVX2, limited"
    )
    assert kernels_of({"vector instructions": "AVX2", "instruction limits": {}}) == "AVX2"


def test_the_evaluation_table_has_a_row_per_set_of_kernels():
    good, short = run(0.9941, 0.9950, 0.9945), run(0.9950, 0.9939, 0.9960)
    records = [
        line([101, 102, 103], [good, short, good], **{"vector instructions": "AVX512"}),
        line(
            [101, 102], [good, good], **{"vector instructions": "AVX2", "instruction limits": AVX2}
        ),
    ]
    table = evaluation_table(evaluations_by_kernels(records, ANSWER, RECIPE))
    assert list(table.index) == ["AVX512", "AVX2, limited"] and table.index.name == "kernels"
    own, limited = table.loc["AVX512"], table.loc["AVX2, limited"]
    low, high = held_rate_interval(2, 3)
    assert own["held"] == "2 of 3"
    assert own["95 % interval (%)"] == f"{100 * low:.1f}–{100 * high:.1f}"
    assert own["lowest of last 3 (%)"] == pytest.approx(99.39)
    assert own["spread (points)"] == pytest.approx(0.02)
    assert own["mean final (%)"] == pytest.approx((99.45 + 99.60 + 99.45) / 3)
    assert own["seeds that missed"] == "102" and limited["seeds that missed"] == "none"
    missing = line([101, 102, 103], [short, good, short], **{"vector instructions": "AVX512"})
    two_missed = evaluations_by_kernels([missing], ANSWER, RECIPE)
    assert evaluation_table(two_missed).iloc[0]["seeds that missed"] == "101, 103"
    assert limited["held"] == "2 of 2" and limited["95 % interval (%)"] == "15.8–100.0"


def test_a_lines_provenance_names_its_command_host_and_commit():
    one = line([101], [run(0.995, 0.995, 0.995)], **{"vector instructions": "AVX2"})
    assert provenance_of(one) == (
        "`python -m bench.experiments.seeds` on an CPU (AVX2, 1 thread a run, 2026-12-06, "
        "commit `aaaaaaa`)"
    )
    two = one | {"threads": 2, "instruction limits": AVX2}
    assert "(AVX2, limited, 2 threads a run," in provenance_of(two)
