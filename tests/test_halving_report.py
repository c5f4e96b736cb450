"""``nnbook.mnist.halving_report``: what the halve record says, on lines made here from the
package's recipes, their figures worked out by hand in the comments."""

import re
from dataclasses import asdict, replace

import pytest

from nnbook.mnist import halving_report
from nnbook.mnist.recipes import (
    DEFAULT_RECIPE,
    FIRST_STEPS_EPOCHS,
    TWELVE_EPOCH_RECIPE,
    default_recipe_for,
)
from nnbook.prose import Markdown

SHORTER = replace(TWELVE_EPOCH_RECIPE, epochs=DEFAULT_RECIPE.epochs)


def run(seed=1, cpu=100.0, final=0.995, wall=None, train=None, per_epoch=(0.9, 0.99), **extra):
    return {
        "seed": seed,
        "cpu seconds": cpu,
        "wall seconds": cpu / 2 if wall is None else wall,
        "final accuracy": final,
        "final train accuracy": final + 0.001 if train is None else train,
        "accuracy per epoch": list(per_epoch),
        "train accuracy per epoch": [a + 0.001 for a in per_epoch],
    } | extra


def line(recipes, runs, cpu="EPYC", threads=2, date="2026-12-01", bf16=True, **extra):
    return {
        "cpu": cpu,
        "threads": threads,
        "date": date,
        "commit": "0123456789abcdef",
        "vector instructions": "AVX512",
        "bfloat16 in hardware": bf16,
        "recipes": {name: asdict(recipe) for name, recipe in recipes.items()},
        "runs": runs,
    } | extra


def halving_line(before_cpu=300.0, after_cpu=150.0, finals=(0.996, 0.995), bf16=True, **extra):
    default = default_recipe_for(bf16)
    seeds = range(1, len(finals) + 1)
    return line(
        {"12 epochs": TWELVE_EPOCH_RECIPE, "default": default},
        {
            "12 epochs": [run(seed, before_cpu, 0.995) for seed in seeds],
            "default": [
                run(seed, after_cpu, final) for seed, final in zip(seeds, finals, strict=True)
            ],
        },
        bf16=bf16,
        **extra,
    )


def test_the_runs_of_a_recipe_and_their_cpu_seconds():
    halving = halving_line(before_cpu=300.0, after_cpu=150.0)
    assert halving_report.runs_of(halving, TWELVE_EPOCH_RECIPE) == halving["runs"]["12 epochs"]
    assert halving_report.runs_of(halving, SHORTER) is None
    assert halving_report.cpu_seconds([run(cpu=100.0), run(cpu=50.0)]) == 75.0
    assert halving_report.finals([run(final=0.99412), run(final=0.9938)]) == "99.41, 99.38"


def test_the_table_sets_each_run_of_the_network_against_its_twelve_epochs_on_that_machine():
    lines = [
        halving_line(before_cpu=300.0, after_cpu=150.0),
        halving_line(before_cpu=400.0, after_cpu=100.0, threads=1),
        line({"default": DEFAULT_RECIPE}, {"default": [run(cpu=80.0)]}, cpu="Xeon"),
        line(
            {"tiny": SHORTER, "net": SHORTER},
            {"tiny": [run(cpu=60.0)], "net": [run(cpu=30.0)]},
            models={"tiny": "tiny", "net": "net"},
        ),
        {"build": {}},  # a line of the build: not a comparison of recipes
    ]
    table = halving_report.halve_table(lines, "net")
    recipes = ["12 epochs", "default", "12 epochs", "default", "default", "tiny", "net"]
    assert list(table["recipe"]) == recipes
    assert list(table["CPU"])[:3] == ["EPYC, 2 threads", "EPYC, 2 threads", "EPYC, 1 thread"]
    shares = list(table["% of 12 epochs"])
    assert shares[:4] == [100.0, 50.0, 100.0, 25.0]  # 150 of 300, 100 of 400 on one thread
    assert shares[4] is None or shares[4] != shares[4]  # no twelve epochs on the Xeon
    assert shares[5] != shares[5] and shares[6] == 10.0  # tiny is not the network; 30 of 300
    assert list(table["CPU s per epoch"])[:2] == [25.0, 150.0 / DEFAULT_RECIPE.epochs]
    assert list(table["seed 1 (%)"])[:2] == [99.5, 99.6]
    assert list(table["min final (%)"])[:2] == [99.5, 99.5]
    assert list(table["CPU s per run"])[:2] == [300.0, 150.0]
    assert list(table["date"])[:1] == ["2026-12-01"]


def test_the_halved_verdict_of_the_latest_line_with_both_recipes():
    lines = [
        halving_line(before_cpu=300.0, after_cpu=200.0),
        halving_line(before_cpu=300.0, after_cpu=120.0, finals=(0.9951, 0.9968), bf16=False),
        line({"12 epochs": TWELVE_EPOCH_RECIPE}, {"12 epochs": [run()]}),
        line({"build": TWELVE_EPOCH_RECIPE}, {"build": [run()]}, build={}),
    ]
    figures = halving_report.halved_verdict(lines)
    assert figures["halved-share"] == 40.0
    assert figures["halved-min-accuracy"] == pytest.approx(99.51)
    assert figures["halved-verdict"] == (
        "On the EPYC (2 threads, 2026-12-01, commit `0123456`; the default trained in float32 "
        "there), seeds 1, 2: the default recipe ended at 99.51, 99.68 % (at or above 99.5 % on "
        "every seed), the twelve-epoch recipe at 99.50, 99.50 %. A run of the default took 120 "
        "CPU seconds against 300, 40 % of them: within the aim of 50 %."
    )
    assert isinstance(figures["halved-verdict"], Markdown)
    exactly = halving_report.halved_verdict([halving_line(before_cpu=300.0, after_cpu=150.0)])
    assert exactly["halved-verdict"].endswith("50 % of them: within the aim of 50 %.")
    worse = halving_report.halved_verdict([halving_line(after_cpu=151.0, finals=(0.9949, 0.995))])
    assert "(below 99.5 % on 1 of 2 seeds)" in worse["halved-verdict"]
    assert "bfloat16 there" in worse["halved-verdict"]
    assert worse["halved-verdict"].endswith("50 % of them: beyond the aim of 50 %.")  # 50.3 %


def test_no_halving_or_other_seeds_are_errors():
    message = "no line of the halve record trains the default and twelve epochs"
    with pytest.raises(ValueError, match=f"^{message}$"):
        halving_report.halved_verdict([halving_line(bf16=True) | {"bfloat16 in hardware": False}])
    other_seeds = halving_line()
    other_seeds["runs"]["default"][0]["seed"] = 7
    with pytest.raises(
        ValueError, match=r"^the two recipes of the halve record ran on different seeds$"
    ):
        halving_report.halved_verdict([other_seeds])


def test_each_lever_against_the_recipe_cut_short():
    no_dropout, average = replace(SHORTER, dropout=0.0), replace(SHORTER, ema_decay=0.999)
    levers = line(
        {
            "8 epochs": SHORTER,
            "8 epochs, no dropout": no_dropout,
            "average": average,
            "slower": replace(SHORTER, batch_size=32),
            "12 epochs": TWELVE_EPOCH_RECIPE,
        },
        {  # 8 epochs: 160 s, 20 s an epoch; no dropout 18 s (-10 %), average 22 s (+10 %)
            "8 epochs": [run(1, 160.0, 0.9954), run(2, 160.0, 0.9949)],
            "8 epochs, no dropout": [run(1, 144.0, 0.995), run(2, 144.0, 0.9958)],
            "average": [run(1, 176.0, 0.9958), run(2, 176.0, 0.9951)],
            "slower": [run(1, 272.0, 0.995), run(2, 272.0, 0.995)],  # 34 s: +70 %
            "12 epochs": [run(1, 999.0), run(2, 999.0)],
        },
        date="2026-12-02",
    )
    older = line({"8 epochs": SHORTER}, {"8 epochs": [run(1, 1.0)]})
    verdict = halving_report.levers_verdict([older, older, levers, halving_line()])
    assert verdict == (
        "On the EPYC (2 threads, 2026-12-02), `8 epochs` took 20.0 CPU s per epoch and ended at "
        "99.54, 99.49 %; each lever alone:\n\n"
        "- `8 epochs, no dropout`: 18.0 CPU s per epoch (-10 %), final 99.50, 99.58 %\n"
        "- `average`: 22.0 CPU s per epoch (+10 %), final 99.58, 99.51 %\n"
        "- `slower`: 34.0 CPU s per epoch (+70 %), final 99.50, 99.50 %"
    )
    assert isinstance(verdict, Markdown)
    with pytest.raises(ValueError, match=r"^no line of the halve record trains the levers alone$"):
        halving_report.levers_verdict([halving_line()])


def build_line(net_before=500.0, net_after=250.0, steps=(100.0, 150.0, 700.0), **extra):
    """Net twelve epochs before, eight after; the three built steps in both; Tiny in the
    answer's place in the build before the answer."""
    names = ["skeleton", "normalised", "separable-31"]
    first = replace(SHORTER, epochs=FIRST_STEPS_EPOCHS)
    answer_recipe = replace(SHORTER, epochs=15, clean_last_epochs=5)
    recipes = {"net": DEFAULT_RECIPE, "net, 12 epochs": TWELVE_EPOCH_RECIPE}
    recipes |= dict(zip(names, [first, first, answer_recipe], strict=True)) | {"tiny": SHORTER}
    runs = {"net": [run(cpu=net_after, wall=net_after / 2)]}
    runs["net, 12 epochs"] = [run(cpu=net_before, wall=net_before / 2)]
    runs |= {name: [run(cpu=cpu, wall=cpu / 2)] for name, cpu in zip(names, steps, strict=True)}
    runs["tiny"] = [run(cpu=400.0)]
    # the answer learns its training set 0.02 points better than it predicts the test set
    answer = runs["separable-31"][0]
    answer["accuracy per epoch"], answer["train accuracy per epoch"] = [0.99] * 15, [0.9902] * 15
    build = {"before": ["net, 12 epochs", *names], "after": ["net", *names]}
    answer = {"before": ["net", "skeleton", "normalised", "tiny"], "after": build["after"]}
    models = {name: name.split(",")[0] for name in runs}
    return line(recipes, runs, build=build, answer=answer, models=models, **extra)


def test_the_latest_build_and_its_table():
    builds = [halving_line(), build_line(date="2026-12-01"), build_line(date="2026-12-05")]
    assert halving_report.latest_build(builds)["date"] == "2026-12-05"
    message = "the halve record holds no build: run bench/experiments/halve.py --build"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        halving_report.latest_build([halving_line()])
    table = halving_report.build_table(builds[-1])
    assert list(table.index) == ["net, 12 epochs", "skeleton", "normalised", "separable-31", "net"]
    assert list(table["in the build"]) == ["before"] + ["before and after"] * 3 + ["after"]
    assert list(table["epochs"]) == [12, FIRST_STEPS_EPOCHS, FIRST_STEPS_EPOCHS, 15, 8]
    assert list(table["CPU s"]) == [500.0, 100.0, 150.0, 700.0, 250.0]
    assert list(table["wall s"]) == [250.0, 50.0, 75.0, 350.0, 125.0]
    assert list(table["final test (%)"]) == [99.5] * 5


def test_the_build_before_and_after_in_numbers():
    # before: 500 + 950 = 1450 CPU s (725 on the clock); after: 250 + 950 = 1200 (600): 83 %.
    # The aim leaves the steps 0.5 · 725 - 125 = 237.5 s, 2.38 times a floor of 100 s; they
    # took 475 s. Before the answer: Net 250, the first steps 250, Tiny 400 = 900 CPU s.
    figures = halving_report.build_report(build_line(), convolutions_floor=100.0)
    assert figures["build-before-cpu"] == 1450.0 and figures["build-after-cpu"] == 1200.0
    assert figures["build-share"] == pytest.approx(100 * 1200 / 1450)
    assert figures["build-answer-before-cpu"] == 900.0
    assert figures["build-answer-share"] == pytest.approx(100 * 1200 / 900)
    assert figures["build-verdict"] == (
        "Halving `Net`'s recipe did not halve the build's training. `Net` went from 500 to 250 "
        'CPU seconds, but the networks of "How small can it go", whose recipes did not change, '
        "took 950 in both, so the build's training went from 1450 to 1200 CPU seconds (725 and "
        "600 s on the clock): "
        "83 %, beyond the aim of 50 % (EPYC, 2 threads, 2026-12-01, commit `0123456`)."
    )
    assert figures["build-floor"] == (
        "Could those networks train faster and close the gap? For the build to take half its "
        "time before, with `Net` as it is now, they would have 238 s on the clock: 2.38 times "
        "what their convolutions alone take (100 s, every epoch's, from the speed record above "
        "on this kind of CPU). They took 475 s on the clock, 4.75 times their convolutions."
    )
    assert isinstance(figures["build-verdict"], Markdown)
    assert isinstance(figures["build-floor"], Markdown)
    even = halving_report.build_report(build_line(), convolutions_floor=237.5)["build-floor"]
    assert "238 s on the clock: 1.00 times what their convolutions alone take" in even
    beneath = halving_report.build_report(build_line(), convolutions_floor=240.0)["build-floor"]
    assert "238 s on the clock: less than their convolutions alone take, so no tuning" in beneath
    halved = halving_report.build_report(build_line(net_before=3000.0), convolutions_floor=1.0)
    assert halved["build-verdict"].startswith(
        "Halving `Net`'s recipe halved the build's training. `Net` went from 3000 to 250"
    )
    assert (
        "3950 to 1200 CPU seconds (1975 and 600 s on the clock): 30 %, within"
        in (halved["build-verdict"])
    )
    at_half = halving_report.build_report(build_line(net_before=1450.0), convolutions_floor=1.0)
    assert at_half["build-verdict"].startswith("Halving `Net`'s recipe halved the build's")
    assert (
        "(1200 and 600 s on the clock): 50 %, within the aim of 50 %" in (at_half["build-verdict"])
    )
    without_answer = build_line()
    del without_answer["answer"]
    with pytest.raises(
        ValueError, match=r"^the build line does not name the build before the answer$"
    ):
        halving_report.build_report(without_answer, convolutions_floor=1.0)


FIRST = ["skeleton", "normalised"]


def lever_line(pairs, epochs=6, threads=2, build=None, date="2026-11-30"):
    """The first steps in ``epochs`` on each seed (``pairs`` of skeleton and normalised runs),
    and the runs of ``build`` when given: a build that trained them shorter."""
    names = [f"skeleton, {epochs} epochs", f"normalised, {epochs} epochs"]
    runs = {name: [pair[i] for pair in pairs] for i, name in enumerate(names)}
    short = replace(SHORTER, epochs=epochs)
    result = line(dict.fromkeys(names, short), runs, threads=threads, date=date)
    result["models"] = dict(zip(names, FIRST, strict=True))
    if build:
        for key in ("recipes", "runs", "models"):
            result[key] |= build[key]
        result |= {"build": build["build"], "answer": build["answer"]}
    return result


def pair(seed, skeleton=0.990, normalised=0.994, first=(0.93, 0.96), gaps=(0.1, 0.08)):
    """A seed's runs: final test accuracies, first epochs' accuracies, gaps in points."""
    return (
        run(seed, 40.0, skeleton, train=skeleton + gaps[0] / 100, per_epoch=(first[0], skeleton)),
        run(seed, 50.0, normalised, train=normalised + gaps[1] / 100, per_epoch=(first[1],)),
    )


def test_the_first_steps_lever_pays_only_when_every_claim_held():
    # the answer's gap in its last augmented epoch (15 epochs, 5 clean: the 10th) is 0.02
    build = build_line()
    build["runs"]["separable-31"][0]["train accuracy per epoch"][9] = 0.9904  # 0.04 there
    held = lever_line([pair(1), pair(2)], build=build)
    verdict = halving_report.first_steps_lever([build, held], FIRST)
    assert verdict.startswith(
        "- 6 epochs, seed 1, 2 threads (2026-11-30): the skeleton ended at 99.00 % on the test "
        "set, +0.10 points on its training set; the normalised network at 99.40 %, +0.08 on its "
        "training set; after the first epoch 93.00 and 96.00 %. The claims hold.\n- 6 epochs, "
        "seed 2,"
    )
    assert verdict.endswith(  # 100 + 150 CPU s in the build, 40 + 50 in fewer epochs
        "\n\nThe claims held in 2 of 2 runs. In the latest run of the build with them, the "
        "shorter first steps took 160 CPU seconds less: the lever pays."
    )
    assert isinstance(verdict, Markdown)


@pytest.mark.parametrize(
    "broken",
    [
        pair(3, skeleton=0.098),  # diverged
        pair(3, gaps=(0.0, 0.08)),  # the skeleton fits the training set no better
        pair(3, gaps=(0.1, 0.0)),  # nor the normalised network
        pair(3, gaps=(0.1, 0.01)),  # the normalised network's gap narrower than the answer's
        pair(3, first=(0.96, 0.96)),  # batch normalisation not ahead after the first epoch
        (  # the normalised network's gap exactly the answer's: 0.9902 against 0.99
            pair(3)[0],
            run(3, 50.0, 0.99, train=0.9902, per_epoch=(0.96,)),
        ),
    ],
)
def test_one_broken_claim_keeps_the_first_steps_epochs(broken):
    build = build_line()
    one_thread = lever_line([pair(1), broken], threads=1)
    verdict = halving_report.first_steps_lever(
        [lever_line([pair(1)], build=build), one_thread], FIRST
    )
    rows = verdict.split("\n")
    assert rows[1].startswith("- 6 epochs, seed 1, 1 thread (2026-11-30)")
    assert rows[2].endswith("**Not every claim holds.**") and rows[1].endswith("claims hold.")
    assert verdict.endswith(
        "The claims held in 2 of 3 runs. In the latest run of the build with them, the shorter "
        "first steps took 160 CPU seconds less: not a saving that is safe to take; the first "
        f"steps keep their {FIRST_STEPS_EPOCHS} epochs."
    )


def test_a_diverged_skeleton_is_said_so():
    build = build_line()
    verdict = halving_report.first_steps_lever(
        [lever_line([pair(1, skeleton=0.098)], build=build)], FIRST
    )
    assert "the skeleton ended at 9.80 % on the test set — it diverged; the normalised" in verdict


def test_the_lever_needs_a_build_that_trained_the_first_steps_shorter():
    message = "^no build of the halve record trains the first steps in fewer epochs$"
    with pytest.raises(ValueError, match=message):
        halving_report.first_steps_lever([build_line(), lever_line([pair(1)])], FIRST)
    as_long = lever_line([pair(1)], epochs=FIRST_STEPS_EPOCHS, build=build_line())
    with pytest.raises(ValueError, match="in fewer epochs"):
        halving_report.first_steps_lever([as_long], FIRST)


def test_the_aims_are_the_targets_module_s(monkeypatch):
    monkeypatch.setattr(halving_report, "HALVED_TARGET_SHARE", 0.6)
    build = halving_report.build_report(build_line(), convolutions_floor=100.0)
    assert "83 %, beyond the aim of 60 % (EPYC" in build["build-verdict"]
    halved = halving_report.halved_verdict([halving_line(before_cpu=300.0, after_cpu=180.0)])
    assert halved["halved-verdict"].endswith("60 % of them: within the aim of 60 %.")


def test_the_answer_s_gap_is_read_in_its_last_augmented_epoch():
    # 15 epochs, the last 5 clean: the 10th is its last on augmented digits, where it learns
    # its training set 1.00 point better; elsewhere 2 points. A normalised network 1.005 points
    # better than its test set is ahead of it, one 0.995 points better is not.
    build = build_line()
    answer = build["runs"]["separable-31"][0]
    answer["accuracy per epoch"] = [0.99] * 15
    answer["train accuracy per epoch"] = [1.01] * 9 + [1.0] + [1.01] * 5
    ahead = pair(1, skeleton=0.98, normalised=0.98, gaps=(1.0, 1.005))
    behind = pair(2, skeleton=0.98, normalised=0.98, gaps=(1.0, 0.995))
    verdict = halving_report.first_steps_lever([lever_line([ahead, behind], build=build)], FIRST)
    rows = verdict.split("\n")
    assert rows[0].endswith("The claims hold.") and rows[1].endswith("**Not every claim holds.**")
    assert "+1.00 points on its training set" in rows[0]


def test_a_normalised_network_that_fits_its_training_set_no_better_breaks_the_claims():
    build = build_line()  # the answer predicts its test set better than it learns its training
    build["runs"]["separable-31"][0]["train accuracy per epoch"] = [0.9898] * 15
    flat = pair(1, gaps=(0.1, 0.0))
    verdict = halving_report.first_steps_lever([lever_line([flat], build=build)], FIRST)
    assert verdict.split("\n")[0].endswith("**Not every claim holds.**")


def test_a_skeleton_at_exactly_half_has_not_diverged():
    verdict = halving_report.first_steps_lever(
        [lever_line([pair(1, skeleton=0.5)], build=build_line())], FIRST
    )
    assert "the skeleton ended at 50.00 % on the test set, +0.10 points" in verdict
    assert verdict.split("\n")[0].endswith("The claims hold.")


def test_lines_without_networks_or_with_unpaired_runs():
    build = build_line()
    lines = [halving_line(), lever_line([pair(1)], build=build)]  # the first names no models
    assert "The claims held in 1 of 1 runs." in halving_report.first_steps_lever(lines, FIRST)
    unpaired = lever_line([pair(1), pair(2)], build=build)
    unpaired["runs"]["normalised, 6 epochs"].pop()
    with pytest.raises(ValueError, match="shorter than argument 1"):
        halving_report.first_steps_lever([unpaired], FIRST)
    half_shortened = lever_line([pair(1)], build=build)
    del half_shortened["models"]["normalised, 6 epochs"]
    with pytest.raises(ValueError):  # the skeleton shortened alone: nothing to pair it with
        halving_report.first_steps_lever([half_shortened], FIRST)
