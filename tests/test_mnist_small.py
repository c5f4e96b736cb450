"""The small networks of "How small can it go", the model registry, kept runs and the CLI."""

import ast
import inspect
import json
import os
import re
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torchinfo
from cli_runner import run_nnbook
from torch import nn

from nnbook.mnist import recipes, runs, targets, trainer
from nnbook.mnist.checkpoints import CHECKPOINT, HISTORY, MODEL
from nnbook.mnist.layer_report import receptive_fields
from nnbook.mnist.networks import (
    ANSWER,
    CANDIDATES,
    FRONTIER,
    MODELS,
    SEPARABLE_FRONTIER,
    build_model,
    parameter_count,
)
from nnbook.mnist.networks.candidates import Separable, separable_bn
from nnbook.mnist.networks.steps import Tiny, conv_bn
from nnbook.mnist.runs import RunFileWarning, run_folder, runs_root, trained
from nnbook.mnist.summaries import (
    average_and_raw,
    epochs_table,
    frontier_table,
    last_epochs_table,
    model_summaries,
    page_speed_table,
    peak_rate_epoch,
    run_summary,
    seeds_table,
    threads_phrase,
)
from nnbook.mnist.trainer import FitOptions, fit

QUICK = replace(recipes.SMALL_RECIPE, epochs=2, batch_size=64)
FINAL = recipes.FINAL_RECIPE


@pytest.fixture(scope="module")
def small(mnist):
    return mnist.train.subset(512), mnist.test.subset(256)


def conv_output_shapes(network):
    stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0)
    return [
        tuple(layer.output_size[1:])
        for layer in stats.summary_list
        if isinstance(layer.module, torch.nn.Conv2d)
    ]


def stop(row):
    """on_epoch that cuts a run off after its first epoch, as Ctrl-C would."""
    raise KeyboardInterrupt


@pytest.mark.parametrize("name", [*(step.model for step in recipes.STEPS), *CANDIDATES])
def test_each_step_is_a_small_working_network(name):
    network = build_model(name).eval()
    count = parameter_count(network)
    assert count < targets.COURSE_MAX_PARAMETERS
    # torchinfo counts the same parameters independently
    stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0)
    assert stats.trainable_params == count
    out = network(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))
    assert conv_output_shapes(network)[-1] == (10, 1, 1)  # one score per digit, after GAP
    assert receptive_fields(network)[-1].receptive_field >= 28  # GAP sees the whole image


def test_the_last_step_is_below_the_smallest_published_network():
    last = recipes.STEPS[-1]
    assert parameter_count(build_model(last.model)) <= targets.FINAL_MAX_PARAMETERS
    assert parameter_count(build_model(last.model)) < targets.SMALLEST_PUBLISHED_PARAMETERS
    assert all(step.recipe.epochs <= targets.COURSE_MAX_EPOCHS for step in recipes.STEPS)


def test_the_build_trains_the_first_steps_and_the_answer_and_reads_tinys_runs():
    built = [step.model for step in recipes.BUILT_STEPS]
    assert built == [recipes.STEPS[0].model, recipes.STEPS[1].model, ANSWER]
    assert [step.model for step in recipes.STEPS if not step.trained_by_build] == ["tiny"]
    assert all(step.recipe == recipes.recipe_for(step.model) for step in recipes.STEPS)


def test_the_frontier_is_tinys_shape_narrower_and_narrower():
    """Each network of the frontier has Tiny's layers, their shapes (but the channels) and its
    receptive fields, fewer parameters than the one before (torchinfo counts them too), and the
    widest is already below 3,000."""
    tiny = build_model("tiny")
    geometry = [shape[1:] for shape in conv_output_shapes(tiny)]
    fields = [f.receptive_field for f in receptive_fields(tiny)]
    counts = [parameter_count(tiny)]
    for name in FRONTIER:
        network = build_model(name)
        shapes = conv_output_shapes(network)
        assert [shape[1:] for shape in shapes] == geometry
        assert {shape[0] for shape in shapes[1:-1]} == {network.width}  # then 10 scores
        assert [f.receptive_field for f in receptive_fields(network)] == fields
        stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0)
        assert stats.trainable_params == parameter_count(network) < counts[-1]
        counts.append(stats.trainable_params)
    assert counts[1] < targets.FRONTIER_MAX_PARAMETERS


def geometry(network):
    """The maps and receptive fields of the 3×3 convolutions and the pools (torchinfo's output
    sizes, the RF formula): what a 1×1 convolution leaves as it is."""
    stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0, depth=4)
    sizes = {id(layer.module): tuple(layer.output_size[2:]) for layer in stats.summary_list}
    modules = dict(network.named_modules())
    return [
        (sizes[id(modules[f.name])], f.receptive_field)
        for f in receptive_fields(network)
        if modules[f.name].kernel_size not in (1, (1, 1))
    ]


@pytest.mark.parametrize("name", CANDIDATES)
def test_a_candidate_has_tinys_geometry_within_the_last_steps_budget(name):
    """A candidate for the last step keeps Tiny's maps and receptive fields and changes its
    channels, at most the chapter's final budget of parameters (torchinfo counts them too)."""
    tiny, network = build_model("tiny"), build_model(name)
    assert geometry(network) == geometry(tiny)
    assert conv_output_shapes(network) != conv_output_shapes(tiny)
    stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0)
    assert stats.trainable_params == parameter_count(network) <= targets.FINAL_MAX_PARAMETERS


def test_the_answer_has_the_most_channels_after_the_pool_within_the_budget():
    """``separable-31``: Separable widened after the pool alone, as far as the budget allows."""
    answer = MODELS[ANSWER]

    class OneMore(answer):
        after = answer.after + 1

    assert issubclass(answer, Separable) and answer.before == Separable.before
    assert answer.after > Separable.after
    count = parameter_count(answer())
    assert parameter_count(Separable()) < count <= targets.FINAL_MAX_PARAMETERS
    assert parameter_count(OneMore()) > targets.FINAL_MAX_PARAMETERS


@pytest.mark.parametrize("name", SEPARABLE_FRONTIER)
def test_the_answers_frontier_is_the_answer_narrower_after_the_pool(name):
    """Each keeps the answer's maps and its channels before the pool, with fewer after it, under
    the frontier's bound of parameters."""
    answer, network = MODELS[ANSWER], MODELS[name]
    assert issubclass(network, Separable) and network.before == answer.before
    assert network.after < answer.after
    assert geometry(network()) == geometry(answer())
    assert parameter_count(network()) < targets.FRONTIER_MAX_PARAMETERS


def test_a_separable_convolution_costs_what_its_formula_says():
    """9·C + C·O weights (and two BatchNorms) where a full 3×3 convolution has 9·C·O."""
    block = separable_bn(16, 28)
    assert parameter_count(block) == 9 * 16 + 16 * 28 + 2 * (16 + 28)
    assert parameter_count(block) < parameter_count(conv_bn(16, 28))
    x = torch.randn(2, 16, 12, 12)
    assert block(x).shape == (2, 28, 10, 10)


def test_a_network_is_built_by_name_or_class_on_its_device_in_its_memory_format():
    """``build_model`` takes a name or a class, puts the weights on the device asked for (the
    meta device: shapes without data) and in the memory format the class names."""
    assert {cls.memory_format for cls in MODELS.values()} == {
        torch.channels_last,
        torch.contiguous_format,
    }  # both kinds are here
    for name, cls in MODELS.items():
        for network in (build_model(name, "meta"), build_model(cls, "meta")):
            assert type(network) is cls
            assert {p.device.type for p in network.parameters()} == {"meta"}
            kernels = [
                m.weight
                for m in network.modules()
                if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1 and m.kernel_size != (1, 1)
            ]
            assert kernels and all(
                k.is_contiguous(memory_format=cls.memory_format) for k in kernels
            )
            if cls.memory_format == torch.channels_last:
                assert not any(k.is_contiguous() for k in kernels)


def test_the_published_network_is_cited():
    bib = (Path(__file__).resolve().parents[1] / "book" / "references.bib").read_text()
    assert f"@misc{{{targets.SMALLEST_PUBLISHED_CITATION}," in bib
    assert f"{targets.SMALLEST_PUBLISHED_PARAMETERS}" in bib  # the number, in the entry
    entries = bib.split("@misc{")
    (claim,) = [e for e in entries if e.startswith(f"{targets.CLAIMED_CITATION},")]
    for figure in (targets.CLAIMED_ACCURACY, targets.CLAIMED_LOGGED_BEST):
        assert f"{100 * figure:.2f} \\%" in claim
    assert f"{targets.CLAIMED_PARAMETERS}" in claim


def seeds_line(model, seeds, runs, recipe=recipes.FINAL_RECIPE, commit="a" * 40, macs=None):
    today = int(model_summaries().loc[model, "MACs per image"])
    return {
        "model": model, "parameters": parameter_count(build_model(model)),
        "multiply-adds per image": today if macs is None else macs,
        "recipe": asdict(recipe), "seeds": seeds, "accuracy per epoch": runs, "commit": commit,
        "command": "python -m bench.experiments.seeds", "date": "2026-11-29", "cpu": "CPU",
        "threads": 1,
    }  # fmt: skip


def test_frontier_table_says_what_each_narrowing_bought_and_cost():
    ends = {"tiny": 0.9950, "tiny-8": 0.9930, "tiny-7": 0.9900}
    records = [seeds_line(name, [1], [[0.98, end]]) for name, end in ends.items()]
    records.append(seeds_line("tiny-6", [1], [[0.98, 0.9]], recipe=recipes.SMALL_RECIPE))
    table = frontier_table(records, ["tiny", "tiny-8", "tiny-7", "tiny-6"], FINAL, (1,))
    assert list(table.index) == ["tiny", "tiny-8", "tiny-7"]  # tiny-6: not with this recipe
    sizes = [parameter_count(build_model(name)) for name in table.index]
    assert table["parameters saved"].tolist()[1:] == [sizes[0] - sizes[1], sizes[1] - sizes[2]]
    assert table["points lost"].tolist()[1:] == pytest.approx([0.2, 0.3])
    assert table[["parameters saved", "points lost"]].iloc[0].isna().all()


def test_a_runs_summary_is_how_it_ended_what_it_cost_and_on_how_many_threads():
    history = [
        trainer.EpochResult(1, 0.5, 0.90, 0.4, 0.93, 0.1, 12.0, 2),
        trainer.EpochResult(2, 0.2, 0.97, 0.1, 0.995, 0.05, 10.0, 2),
        trainer.EpochResult(3, 0.1, 0.98, 0.1, 0.994, 0.01, 11.0, 1),
    ]
    summary = run_summary("tiny", history)
    size = model_summaries().loc["tiny"]
    assert summary == pytest.approx({
        "parameters": size["parameters"], "MACs per image": size["MACs per image"],
        "receptive field": size["receptive field"], "epochs": 3, "seconds per epoch": 11.0,
        "threads": 1, "final train accuracy (%)": 98.0, "final test accuracy (%)": 99.4,
        "best test accuracy (%)": 99.5,
    })  # fmt: skip
    with pytest.raises(ValueError, match="unknown model"):
        run_summary("tiny-0", history)


def test_the_average_beside_the_raw_weights_first_and_last():
    history = [
        trainer.EpochResult(1, 0.5, 0.90, 2.3, 0.101, 0.1, 12.0, 2, raw_test_accuracy=0.97),
        trainer.EpochResult(2, 0.2, 0.97, 0.1, 0.98, 0.05, 10.0, 2, raw_test_accuracy=0.985),
        trainer.EpochResult(3, 0.1, 0.98, 0.1, 0.994, 0.01, 11.0, 2, raw_test_accuracy=0.993),
    ]
    assert average_and_raw(history) == pytest.approx(
        {"average-first": 10.1, "raw-first": 97.0, "average-final": 99.4, "raw-final": 99.3}
    )
    plain = [replace(row, raw_test_accuracy=None) for row in history]
    for without in (plain, [history[0], plain[1]], []):
        with pytest.raises(ValueError) as error:
            average_and_raw(without)
        assert str(error.value) == (
            "the run kept no average of its weights: there is no raw figure beside"
        )


@pytest.mark.parametrize(("schedule", "epochs", "peak"), [("onecycle", 10, 3), ("onecycle", 15, 5),
                                                       ("constant", 4, 1)])  # fmt: skip
def test_the_rates_peak_epoch_is_where_the_schedule_tops(schedule, epochs, peak):
    """One-cycle rises for its first 30 % of steps (PyTorch's default ``pct_start``): with 100
    steps an epoch the top is step 0.3·1000 − 1 = 299 (epoch 3) of 10 epochs, step 449 (epoch
    5) of 15; a constant rate is at its top from the first step."""
    recipe = replace(recipes.SMALL_RECIPE, epochs=epochs, schedule=schedule)
    assert peak_rate_epoch(recipe, steps_per_epoch=100) == peak


@pytest.mark.parametrize(
    ("threads", "phrase"),
    [([1], "1 thread"), ([2, 2], "2 threads"), ([2, 1, 2], "1 or 2 threads"),
     ([4, 1, 2], "1, 2 or 4 threads"), (np.array([2, 2]), "2 threads")],
)  # fmt: skip
def test_threads_in_words(threads, phrase):
    assert threads_phrase(threads) == phrase


@pytest.mark.parametrize(("threads", "message"), [([], "no thread counts"), ([0], "positive"),
                                                  ([1.5], "whole")])  # fmt: skip
def test_threads_in_words_refuses_what_is_not_a_count(threads, message):
    with pytest.raises(ValueError, match=message):
        threads_phrase(threads)
    if not threads:
        with pytest.raises(ValueError) as error:
            threads_phrase(threads)
        assert str(error.value) == "no thread counts to name"


def test_epochs_table_shows_every_epoch_of_each_seeds_latest_run():
    early, late = [0.098, 0.990, 0.994], [0.101, 0.991, 0.9939]
    records = [
        seeds_line("tiny", [1, 2], [late, late], commit="b" * 40),  # superseded
        seeds_line("tiny", [2, 1], [late, early]),
        seeds_line("tiny", [1, 2], [early, early], macs=1),  # an earlier network
    ]
    table = epochs_table(records, "tiny", recipes.FINAL_RECIPE, (1, 2))
    assert list(table.columns) == ["epoch 1", "epoch 2", "epoch 3"]
    assert list(table.index) == ["seed 1", "seed 2"]
    assert table.loc["seed 1"].tolist() == pytest.approx([9.8, 99.0, 99.4])
    assert table.loc["seed 2"].tolist() == pytest.approx([10.1, 99.1, 99.39])
    with pytest.raises(ValueError, match=r"no run of tiny on seeds \[1, 3\]"):
        epochs_table(records, "tiny", recipes.FINAL_RECIPE, (1, 3))
    with pytest.raises(ValueError, match="unknown model 'huge'"):
        epochs_table(records, "huge", recipes.FINAL_RECIPE, (1,))


def test_last_epochs_table_shows_each_seeds_last_epochs_of_the_latest_run():
    early, late = [0.98, 0.990, 0.994, 0.995], [0.98, 0.991, 0.9939, 0.996]
    records = [
        seeds_line("tiny", [1, 2], [late, late], commit="b" * 40),  # superseded
        seeds_line("tiny", [2, 1, 3], [late, early, early]),
        seeds_line("tiny", [1, 2], [early, early], recipe=recipes.SMALL_RECIPE),  # not it
        seeds_line("tiny", [1, 2], [early, early], macs=1),  # an earlier network
    ]
    table = last_epochs_table(records, "tiny", recipes.FINAL_RECIPE, (1, 2))
    assert list(table.columns) == ["epoch 2", "epoch 3", "epoch 4"]
    assert list(table.index) == ["seed 1", "seed 2"]
    assert table.loc["seed 1"].tolist() == pytest.approx([99.0, 99.4, 99.5])
    assert table.loc["seed 2"].tolist() == pytest.approx([99.1, 99.39, 99.6])
    with pytest.raises(ValueError, match=r"no run of tiny on seeds \[1, 4\]"):
        last_epochs_table(records, "tiny", recipes.FINAL_RECIPE, (1, 4))
    limited = {"instruction limits": {"ATEN_CPU_CAPABILITY": "avx2"}}
    records.append(seeds_line("tiny", [1, 2], [early, early]) | limited)  # the latest
    assert table.equals(last_epochs_table(records, "tiny", recipes.FINAL_RECIPE, (1, 2)))
    avx2 = last_epochs_table(
        records, "tiny", recipes.FINAL_RECIPE, (1, 2), limited["instruction limits"]
    )
    assert avx2.loc["seed 2"].tolist() == pytest.approx([99.0, 99.4, 99.5])
    with pytest.raises(ValueError, match=r"no run of tiny on seeds \[1, 2\] under \{'A"):
        last_epochs_table(records, "tiny", recipes.FINAL_RECIPE, (1, 2), {"A": "b"})
    with pytest.raises(ValueError, match="unknown model 'huge'"):
        last_epochs_table(records, "huge", recipes.FINAL_RECIPE, (1,))
    records.append(seeds_line("tiny", [1], [[0.99, 0.995]], recipe=recipes.PLAIN_RECIPE))
    with pytest.raises(ValueError) as short:
        last_epochs_table(records, "tiny", recipes.PLAIN_RECIPE, (1,))
    assert str(short.value) == "seed 1 ran 2 epochs, fewer than 3"
    records.append(seeds_line("tiny", [1], [[0.99, 0.995, 0.996]], recipe=recipes.PLAIN_RECIPE))
    exact = last_epochs_table(records, "tiny", recipes.PLAIN_RECIPE, (1,))  # 3 epochs: all
    assert exact.loc["seed 1"].tolist() == pytest.approx([99.0, 99.5, 99.6])


def test_seeds_table_reads_the_latest_run_of_the_recipe_on_the_seeds():
    held = [0.990, 0.994, 0.995, 0.9941]  # the last three at or above 99.4 %
    dipped = [0.990, 0.996, 0.9939, 0.996]  # ends above, but one of its last three below
    records = [
        seeds_line("tiny", [1, 2], [dipped, dipped], commit="b" * 40),  # superseded
        seeds_line("tiny", [3, 1, 2], [dipped, held, held]),
        seeds_line("tiny", [1, 2], [dipped, dipped], recipe=recipes.SMALL_RECIPE),  # not it
        seeds_line("tiny-8", [1, 2], [held, dipped]),
        seeds_line("tiny-7", [1], [held]),  # not every seed
        seeds_line("tiny-8", [1, 2], [held, held], commit="c" * 40, macs=1),  # another version
    ]
    older = seeds_table(records, ["tiny-8"], recipes.FINAL_RECIPE, (1, 2), network="earlier")
    assert older.loc["tiny-8", "commit"] == "c" * 40 and older.loc["tiny-8", "seeds held"] == 2
    latest = seeds_table(records, ["tiny-8"], recipes.FINAL_RECIPE, (1, 2), network="any")
    assert latest.loc["tiny-8", "commit"] == "c" * 40  # the latest line, whatever its network
    with pytest.raises(ValueError, match="network must be one of"):
        seeds_table(records, ["tiny-8"], recipes.FINAL_RECIPE, (1, 2), network="today")
    table = seeds_table(records, ["tiny", "tiny-8"], recipes.FINAL_RECIPE, (1, 2))
    assert list(table.index) == ["tiny", "tiny-8"]
    tiny, narrower = table.loc["tiny"], table.loc["tiny-8"]
    assert tiny["commit"] == "a" * 40 and tiny["epochs"] == 4
    assert (tiny["seed 1 (%)"], tiny["seed 2 (%)"]) == (100 * held[-1], 100 * held[-1])
    assert tiny["holds"] and not narrower["holds"]  # 99.39 % in one of the last three
    assert (tiny["seeds held"], narrower["seeds held"]) == (2, 1)
    assert narrower["min final (%)"] == pytest.approx(99.41)
    assert narrower["mean final (%)"] == pytest.approx((99.41 + 99.6) / 2)
    assert narrower["min of last 3 (%)"] == pytest.approx(99.39)
    assert table["parameters"].tolist() == [
        parameter_count(build_model(name)) for name in ("tiny", "tiny-8")
    ]
    with pytest.raises(ValueError) as missing:
        seeds_table(records, ["tiny-7"], recipes.FINAL_RECIPE, (1, 2))
    assert str(missing.value) == "the seeds record has no run of tiny-7 on seeds [1, 2]"
    records.append(seeds_line("tiny-8", [1, 2], [dipped, held], commit="d" * 40))  # as built
    latest = seeds_table(records, ["tiny-8"], recipes.FINAL_RECIPE, (1, 2), network="any")
    assert latest.loc["tiny-8", "commit"] == "d" * 40  # the latest line, here as built
    limits = {"ATEN_CPU_CAPABILITY": "avx2"}
    records.append(seeds_line("tiny", [1, 2], [dipped, dipped]) | {"instruction limits": limits})
    limited = seeds_table(records, ["tiny"], recipes.FINAL_RECIPE, (1, 2), limits=limits)
    assert limited.loc["tiny", "seeds held"] == 0 and table.loc["tiny", "seeds held"] == 2


#: The networks whose own ``__init__`` lays out (and comments) their layers; the others only
#: change a class's widths (the frontier, ``separable-31``).
LAID_OUT = [
    name
    for name in (*(step.model for step in recipes.STEPS), *CANDIDATES)
    if "__init__" in vars(MODELS[name])
]


@pytest.mark.parametrize("name", LAID_OUT)
def test_shapes_and_receptive_fields_in_the_comments_are_the_real_ones(name):
    """Each layer's comment (``# 10×24×24, RF 5``) says what torchinfo and the RF formula find."""
    cls = MODELS[name]
    source = inspect.getsource(cls)
    start = source.index("self.features = nn.Sequential(")  # the first layout: the class's own
    layout = source[start : source.index("\n        )", start)]
    comments = re.findall(r"# (\d+)×(\d+)×(\d+)(?:.*?RF (\d+))?", layout)
    network = cls()
    stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0, depth=2)
    children = {id(m) for m in network.features.children()}
    shapes = [tuple(s.output_size[1:]) for s in stats.summary_list if id(s.module) in children]
    assert [tuple(map(int, c[:3])) for c in comments] == shapes
    fields = {f.name.rsplit(".", 1)[0] if f.name.count(".") > 1 else f.name: f.receptive_field
              for f in receptive_fields(network)}  # fmt: skip
    written = [int(c[3]) for c in comments if c[3]]
    layers = [f"features.{k}" for k, c in enumerate(comments) if c[3]]
    assert written == [fields[layer] for layer in layers]


def test_an_unknown_model_is_named():
    with pytest.raises(ValueError, match="unknown model 'huge'; choose one of net, "):
        build_model("huge")
    with pytest.raises(ValueError, match="unknown model 'huge'"):
        recipes.recipe_for("huge")
    with pytest.raises(ValueError, match="unknown model 'huge'"):
        fit(
            None, None, model="huge", options=FitOptions(device="cpu")
        )  # refused before the data is touched


def test_every_model_trains_with_the_recipe_of_its_step():
    families = {"net", *FRONTIER, *SEPARABLE_FRONTIER, *CANDIDATES}
    steps = [m for m in MODELS if m not in families]
    assert [step.model for step in recipes.STEPS] == [*steps, ANSWER]  # the answer is step 4
    assert recipes.recipe_for("net") == recipes.DEFAULT_RECIPE
    others = {*FRONTIER, *CANDIDATES} - {ANSWER}
    assert {recipes.recipe_for(name) for name in others} == {recipes.FINAL_RECIPE}
    # the answer's recipe is the last step's, its last epochs on the digits as they are
    answer = recipes.recipe_for(ANSWER)
    assert answer == recipes.ANSWER_RECIPE and answer.clean_last_epochs > 0
    assert replace(answer, clean_last_epochs=0) == recipes.FINAL_RECIPE
    assert {recipes.recipe_for(name) for name in SEPARABLE_FRONTIER} == {answer}
    # the first steps see plain digits for fewer epochs; the last one augments for all of them
    first, *_, last = (recipes.recipe_for(step.model) for step in recipes.STEPS)
    assert not first.augment and first.epochs < targets.COURSE_MAX_EPOCHS
    assert last.augment and last.epochs == targets.COURSE_MAX_EPOCHS


def test_model_summaries_count_what_torchinfo_counts():
    """Parameters by torchinfo (its own walk of the modules), and the net the class notes ask
    for: the summary table is an independent check of ``parameter_count``."""
    table = model_summaries()
    assert list(table.index) == list(MODELS)
    assert table.loc["net", "parameters"] == 17_466  # the class notes' network
    for name in MODELS:
        stats = torchinfo.summary(build_model(name), input_size=(1, 1, 28, 28), verbose=0)
        assert table.loc[name, "parameters"] == stats.trainable_params
    assert table.loc["tiny", "MACs per image"] < table.loc["net", "MACs per image"]
    assert list(table.columns) == [
        "parameters", "MACs per image", "receptive field", "layers"
    ]  # fmt: skip
    for name in ("tiny", "separable-31"):  # per image, from a batch of three
        batch = torchinfo.summary(build_model(name), input_size=(3, 1, 28, 28), verbose=0)
        assert table.loc[name, "MACs per image"] == batch.total_mult_adds // 3


class Probe(nn.Module):
    """Three 3 × 3 convolutions (receptive field 7), a pool, then a 1 × 1 convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1),
            nn.Conv2d(2, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 10, 1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def test_the_summary_gives_the_last_3x3_convolutions_receptive_field_and_prints_nothing(
    monkeypatch, capsys
):
    from nnbook.mnist import summaries

    monkeypatch.setattr(summaries, "MODELS", {"probe": Probe})
    row = summaries.model_summaries().loc["probe"]
    assert row["receptive field"] == 7  # not the 1 × 1 convolution's 8, after the pool
    assert row["layers"] == 4 and row["parameters"] == parameter_count(Probe())
    assert capsys.readouterr().out == ""  # torchinfo's own table is not printed


def test_fit_trains_a_small_model_and_refuses_an_unknown_one(small, tmp_path):
    result = fit(
        *small, QUICK, seed=2, model="tiny", options=FitOptions(device="cpu", out=tmp_path)
    )
    assert type(result.model) is MODELS["tiny"]
    first, last = result.history
    assert last.train_loss < first.train_loss
    with pytest.raises(ValueError, match="the checkpoint is of model 'tiny', not 'net'"):
        fit(
            *small,
            QUICK,
            seed=2,
            model="net",
            options=FitOptions(device="cpu", out=tmp_path, resume=True),
        )
    with pytest.raises(ValueError, match="unknown model"):
        fit(*small, QUICK, seed=2, model="huge", options=FitOptions(device="cpu"))


def test_resume_loads_the_checkpoint_on_the_cpu(small, tmp_path, monkeypatch):
    """A checkpoint written on a GPU must load: its random states have to stay on the CPU."""
    with pytest.raises(KeyboardInterrupt):
        fit(
            *small,
            QUICK,
            seed=3,
            model="tiny",
            options=FitOptions(device="cpu", out=tmp_path, on_epoch=stop),
        )
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    fit(
        *small,
        QUICK,
        seed=3,
        model="tiny",
        options=FitOptions(device="cpu", out=tmp_path, resume=True),
    )
    assert seen == ["cpu"]  # then load_state_dict puts each tensor where the network is


def test_kept_runs_train_once(small, tmp_path):
    rows = []
    first = trained(*small, QUICK, seed=4, device="cpu", model="tiny", root=tmp_path)
    second = trained(
        *small, QUICK, seed=4, device="cpu", model="tiny", root=tmp_path, on_epoch=rows.append
    )
    assert second.history == first.history == rows  # loaded, with the log replayed
    folder = next(tmp_path.iterdir())
    written = (folder / MODEL).stat().st_ino
    trained(*small, QUICK, seed=4, device="cpu", model="tiny", root=tmp_path)
    assert (folder / MODEL).stat().st_ino == written  # loaded, not trained and written again
    for key, value in first.model.state_dict().items():
        torch.testing.assert_close(second.model.state_dict()[key], value, rtol=0, atol=0)
    assert len(list(tmp_path.iterdir())) == 1
    # another seed or recipe is another run, in its own folder
    other = trained(*small, replace(QUICK, epochs=1), seed=4, device="cpu", model="tiny",
                    root=tmp_path)  # fmt: skip
    assert len(other.history) == 1 and len(list(tmp_path.iterdir())) == 2


def test_a_kept_run_that_was_cut_off_is_resumed(small, tmp_path):
    folder = run_folder("tiny", QUICK, 6, torch.device("cpu"), (512, 256), tmp_path)
    with pytest.raises(KeyboardInterrupt):
        fit(
            *small,
            QUICK,
            seed=6,
            model="tiny",
            options=FitOptions(device="cpu", out=folder, on_epoch=stop),
        )
    first_epoch_seconds = [row["seconds"] for row in json.loads((folder / HISTORY).read_text())]
    assert (folder / CHECKPOINT).is_file() and not (folder / MODEL).exists()
    rows = []
    resumed = trained(
        *small, QUICK, seed=6, device="cpu", model="tiny", root=tmp_path, on_epoch=rows.append
    )
    straight = fit(*small, QUICK, seed=6, model="tiny", options=FitOptions(device="cpu"))
    strip = [{**vars(r), "seconds": 0} for r in resumed.history]
    assert strip == [{**vars(r), "seconds": 0} for r in straight.history]
    assert [row.epoch for row in rows] == [1, 2]
    assert len(json.loads((folder / HISTORY).read_text())) == 2
    # resumed, not begun again: the first epoch's row is the one the cut-off run wrote
    assert resumed.history[0].seconds == first_epoch_seconds[0]


def test_runs_root_comes_from_the_environment(tmp_path):
    assert runs_root({"NNBOOK_RUNS": str(tmp_path)}) == tmp_path
    assert runs_root({}).parts[-3:] == (".cache", "nnbook", "runs")


def test_cli_lists_the_models():
    result = run_nnbook("models", "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model,parameters,MACs per image,receptive field")
    assert [line.split(",")[0] for line in lines[1:]] == list(MODELS)
    assert "net,17466," in result.stdout


def test_cli_trains_a_small_model(tmp_path, mnist_root):
    out = tmp_path / "tiny"
    args = ["--model", "tiny", "--epochs", "1", "--limit-train", "256", "--limit-test", "128"]
    result = run_nnbook("train", *args, "--data", str(mnist_root), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    saved = torch.load(out / MODEL, weights_only=True)
    assert saved.keys() == build_model("tiny").state_dict().keys()
    answer = tmp_path / "answer"  # a shorter run than its clean last epochs: all of it clean
    args = ["--model", ANSWER, "--epochs", "2", "--limit-train", "256", "--limit-test", "128"]
    result = run_nnbook("train", *args, "--data", str(mnist_root), "--out", str(answer), "--quiet")
    assert result.returncode == 0, result.stderr
    kept = torch.load(answer / CHECKPOINT, weights_only=False)["recipe"]
    assert (kept["epochs"], kept["clean_last_epochs"]) == (2, 2)
    args[3] = "3"
    result = run_nnbook("train", *args, "--clean-last-epochs", "4", "--out", str(tmp_path / "y"))
    assert result.returncode == 2
    assert "a whole number from 0 to the 3 epochs, got 4" in result.stderr
    bad = run_nnbook("train", "--model", "huge", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "unknown model 'huge'; choose one of net, " in bad.stderr
    assert "--deterministic" in run_nnbook("train", "--help").stdout


def test_a_run_is_seed_1_on_the_device_auto_picks_by_default(small, tmp_path, monkeypatch):
    monkeypatch.setenv("NNBOOK_RUNS", str(tmp_path))  # and kept where NNBOOK_RUNS says
    result = trained(*small, replace(QUICK, epochs=1), model="tiny")
    (folder,) = tmp_path.iterdir()
    assert folder == run_folder(
        "tiny", replace(QUICK, epochs=1), 1, torch.device("cpu"), (512, 256), tmp_path
    )
    assert len(result.history) == 1


def test_weights_of_another_network_are_trained_afresh_with_one_warning(small, tmp_path):
    recipe = replace(QUICK, epochs=1)
    folder = run_folder("tiny", recipe, 8, torch.device("cpu"), (512, 256), tmp_path)
    trained(*small, recipe, seed=8, device="cpu", model="tiny", root=tmp_path)
    torch.save(build_model("skeleton").state_dict(), folder / MODEL)
    with pytest.warns(RunFileWarning) as caught:
        trained(*small, recipe, seed=8, device="cpu", model="tiny", root=tmp_path)
    assert [str(w.message) for w in caught] == [
        f"{folder} holds files of another run (RuntimeError); training it afresh"
    ]


def test_the_digest_covers_what_the_trainer_imports_and_nothing_else():
    import subprocess
    import sys

    modules, borrowed = runs.training_code()
    # what importing the trainer imports, in a fresh interpreter: covered, left out by name, or
    # imported only by a module left out (the recipes' hardware probe)
    code = f"import sys, {runs.TRAINING_MODULE}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported = {name for name in done.stdout.split() if name.split(".")[0] == "nnbook"}
    assert imported - modules - runs.NOT_TRAINING_CODE == {"nnbook.mnist.hardware"}
    # and what it imports inside its functions (the CUDA-graph step), but no report or export
    assert "nnbook.mnist.graphed" in modules - imported
    assert not modules & {"nnbook.mnist.summaries", "nnbook.mnist.export", "nnbook.mnist.plots"}
    assert not modules & runs.NOT_TRAINING_CODE
    # what the trainer takes by name from the modules left out is covered
    taken = {
        (node.module, alias.name)
        for node in ast.walk(ast.parse(inspect.getsource(trainer)))
        if isinstance(node, ast.ImportFrom) and node.module in runs.NOT_TRAINING_CODE
        for alias in node.names
    }
    assert taken <= borrowed
    assert {
        ("nnbook.mnist.networks.base", "set_dropout"),
        ("nnbook.mnist.recipes", "Recipe"),
    } <= borrowed


def test_comments_docstrings_and_layout_are_not_code_but_arithmetic_is():
    source = inspect.getsource(trainer)
    code = runs.normalised_code(source)
    commented = source.replace("\ndef ", "\n# a remark\n\n\ndef ")
    reworded = source.replace('"""', '"""Reworded. ', 1)  # the module's docstring
    assert runs.normalised_code(commented) == code and runs.normalised_code(reworded) == code
    product = re.search(r"\w \* \w", source)
    assert product, "the trainer has no product to change"
    first_product = product.start() + 2
    changed = source[:first_product] + "/" + source[first_product + 1 :]
    assert runs.normalised_code(changed) != code
    # a class's code, its docstring and its name aside
    tiny = inspect.getsource(Tiny)
    renamed = tiny.replace("class Tiny(", "class Smaller(").replace('"""The last', '"""A')
    assert runs.normalised_code(renamed) == runs.normalised_code(tiny)


def test_an_edit_to_a_module_training_never_runs_leaves_the_runs_digest(monkeypatch):
    import nnbook.mnist.manual as manual
    import nnbook.mnist.summaries as summaries

    before = runs.source_digest()
    real = Path.read_text

    def edited(module, line: str):  # the file of ``module`` as if ``line`` were added
        def read_text(self, **kwargs):
            return real(self, **kwargs) + (line if self == Path(module.__file__) else "")

        monkeypatch.setattr(Path, "read_text", read_text)

    for untouched in (manual, summaries, targets, recipes):
        edited(untouched, "\nEXTRA = 1\n")  # code, not a comment
        assert runs.source_digest() == before, untouched.__name__
    edited(trainer, "\n# a comment\n")
    assert runs.source_digest() == before
    edited(trainer, "\nEXTRA = 1\n")
    assert runs.source_digest() != before


def test_a_runs_key_is_the_same_in_a_fresh_interpreter():
    """The build and nbval run in different processes: a key made of anything that differs
    between them (an object's address in a ``repr``, a set's order) would retrain every run."""
    import subprocess
    import sys

    code = (
        "from nnbook.mnist import runs; from nnbook.mnist.networks import build_model; "
        "print(runs.source_digest(), runs.network_digest(build_model('separable-31')))"
    )
    env = os.environ | {"PYTHONHASHSEED": "12345"}  # another order for sets of strings
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    here = f"{runs.source_digest()} {runs.network_digest(build_model('separable-31'))}"
    assert done.stdout.split() == here.split()


def test_the_code_of_what_the_trainer_borrows_is_in_the_digest(monkeypatch):
    """The trainer uses ``set_dropout`` from the networks' module, which the digest leaves out
    as a whole: an edit to that function's code changes the digest all the same."""
    from nnbook.mnist.networks.base import set_dropout

    before = runs.source_digest()
    real = inspect.getsource

    def edited(value):
        return real(value) + ("    return None\n" if value is set_dropout else "")

    monkeypatch.setattr(inspect, "getsource", edited)
    assert runs.source_digest() != before


#: A module of the package's name, written for the tests below: two functions that call each
#: other, one that names a constant, a lowercase module-level value (state, not a constant)
#: and a module under an uppercase alias, and two classes alike but for their names.
PROBE = """
import json as JSON

from torch import nn

LIMIT = 3
calls = {"bounded": 0}


def even(n):
    return n == 0 or odd(n - 1)


def odd(n):
    return n != 0 and even(n - 1)


def bounded(n):
    calls["bounded"] += 1
    return JSON.dumps(even(min(n, LIMIT)))


class First(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Linear(2, 2))


class Second(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Linear(2, 2))
"""


@pytest.fixture
def probe(tmp_path, monkeypatch):
    import importlib
    import sys

    (tmp_path / "nnbook_probe.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("nnbook_probe")
    sys.modules.pop("nnbook_probe", None)


def test_the_code_a_function_names_is_followed_once_with_its_constants_and_no_state(probe):
    """``bounded`` names ``even``, which calls ``odd``, which calls ``even``: each function's
    code once (the walk ends), the constant ``LIMIT`` by value; not the module-level ``calls``
    (state that changes as the program runs) nor the module ``JSON`` (whose text is its path)."""
    codes = runs._referenced_code(probe.bounded, set())
    expected = [
        runs.normalised_code(inspect.getsource(function))
        for function in (probe.bounded, probe.even, probe.odd)
    ]
    assert sorted(codes) == sorted([*expected, "LIMIT = 3"])


@pytest.mark.parametrize("edit", ["the class's code", "the constant's value"])
def test_a_class_and_a_constant_the_trainer_borrows_are_in_the_digest(probe, monkeypatch, edit):
    """What the trainer takes by name from a module the digest leaves out as a whole, a class
    (its code, as ``Recipe``'s) or a constant (its value, as ``DEFAULT_MODEL``'s): an edit to
    either changes the digest. Here the trainer is made to borrow ``First`` and ``LIMIT``."""
    borrowed = {("nnbook_probe", "First"), ("nnbook_probe", "LIMIT")}
    monkeypatch.setattr(runs, "training_code", lambda: (set(), borrowed))
    before = runs.source_digest()
    if edit == "the constant's value":
        monkeypatch.setattr(probe, "LIMIT", 4)
    else:
        real = inspect.getsource

        def edited(value):
            return real(value) + ("    EXTRA = 1\n" if value is probe.First else "")

        monkeypatch.setattr(inspect, "getsource", edited)
    assert runs.source_digest() != before


def test_a_class_renamed_or_moved_keeps_its_key_and_pytorchs_layers_are_told_apart_by_class(
    probe, tmp_path
):
    """The package's classes are named in a run's key by their code alone, so a class renamed
    or moved to another module, its code unchanged, keeps its runs; PyTorch's layers by their
    class, so ReLU and SiLU (the same settings, ``inplace=False``, no weights) make two keys."""
    import importlib

    assert runs.network_digest(probe.First()) == runs.network_digest(probe.Second())
    (tmp_path / "nnbook_probe_moved.py").write_text(PROBE)
    moved = importlib.import_module("nnbook_probe_moved")
    assert moved.First.__module__ != probe.First.__module__
    assert runs.network_digest(moved.First()) == runs.network_digest(probe.First())
    relu = runs.network_digest(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    assert relu != runs.network_digest(nn.Sequential(nn.Linear(2, 2), nn.SiLU()))


def test_a_runs_key_holds_its_own_network_and_no_other():
    tiny = runs.network_digest(build_model("tiny"))
    assert tiny == runs.network_digest(build_model("tiny"))
    assert tiny != runs.network_digest(build_model("tiny-8"))  # the same code, other widths
    padded = build_model("tiny")
    padded.features[1][0].padding = (1, 1)  # one layer's setting
    assert runs.network_digest(padded) != tiny
    channels_last = build_model("tiny")
    channels_last.memory_format = torch.channels_last  # the same numbers, other round-off
    assert runs.network_digest(channels_last) != tiny
    # every network has a key of its own
    digests = {name: runs.network_digest(build_model(name)) for name in MODELS}
    assert len(set(digests.values())) == len(MODELS)


def test_a_runs_key_holds_the_packages_code_and_not_the_mode(monkeypatch):
    """An edit to the code of a network's class changes the key; a network in evaluation mode
    has the key of the same network training."""
    from nnbook.mnist.networks import steps

    tiny = build_model("tiny")
    before = runs.network_digest(tiny)
    assert runs.network_digest(build_model("tiny").eval()) == before
    real = inspect.getsource

    def edited(value):  # Tiny's code as if a line were added to its class
        return real(value) + ("    EXTRA = 1\n" if value is steps.Tiny else "")

    monkeypatch.setattr(inspect, "getsource", edited)
    assert runs.network_digest(tiny) != before


def test_the_digest_reads_both_forms_of_import_and_only_the_packages():
    tree = ast.parse("from nnbook.mnist.data import load\nimport nnbook.files\nimport torch\n")
    assert runs._imports(tree) == (
        ["nnbook.mnist.data", "nnbook.files"],
        [("nnbook.mnist.data", "load")],
    )
    assert runs._module_file("no_module_of_this_name") is None
    assert runs._module_file("nnbook.mnist.data") == Path(inspect.getfile(runs.MNISTTensors))


def test_the_digest_follows_a_module_imported_from_its_package_and_the_classes_code_names():
    """``from nnbook.mnist import manual`` brings ``manual``'s code in; a function that names a
    class of the package (``start_run`` makes a ``RunInProgress``) brings that class's code in."""
    assert "nnbook.mnist.manual" in runs.training_code("nnbook.mnist.derivations")[0]
    codes = runs._referenced_code(trainer.start_run, set())
    source = inspect.getsource(trainer.RunInProgress)
    assert runs.normalised_code(source) in codes


def test_an_empty_module_is_code_too():
    """A module with nothing in it (an empty ``__init__``) has a digest, unlike any other."""
    assert runs.normalised_code("") != runs.normalised_code("x = 1\n")


def test_a_runs_key_covers_the_helpers_its_network_is_built_with(monkeypatch):
    """``conv_bn`` is a function of ``networks/steps.py``, not a class: a change to it (here, the
    BatchNorm scales initialised otherwise) changes the key of every network built with it."""
    from nnbook.mnist.networks import steps

    before = runs.network_digest(build_model("tiny"))
    built_with = steps.conv_bn

    def conv_bn_scaled(*args, **kwargs):
        block = built_with(*args, **kwargs)
        torch.nn.init.constant_(block[1].weight, 0.5)
        return block

    monkeypatch.setattr(steps, "conv_bn", conv_bn_scaled)
    assert runs.network_digest(build_model("tiny")) != before


def test_a_runs_key_leaves_the_callers_random_numbers_alone(tmp_path):
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    run_folder("tiny", QUICK, 1, torch.device("cpu"), (512, 256), tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_the_digest_refuses_relative_imports_it_cannot_follow():
    with pytest.raises(ValueError, match="relative import of 'graphed'"):
        runs._imports(ast.parse("from .graphed import CapturedStep"))


@pytest.mark.filterwarnings("ignore:.*to a meta parameter:UserWarning")  # loading onto meta
def test_a_kept_run_comes_back_on_the_device_it_was_asked_for(small, tmp_path, monkeypatch):
    """A run kept on a GPU is loaded onto the GPU, not the CPU: here the ``meta`` device stands
    for the GPU (a device that is not the default), its folder holding a run trained here."""
    recipe = replace(QUICK, epochs=1)
    trained(*small, recipe, seed=9, device="cpu", model="tiny", root=tmp_path)
    (kept,) = tmp_path.iterdir()
    elsewhere = torch.device("meta")
    monkeypatch.setattr(runs, "pick_device", lambda name: elsewhere)
    shutil.copytree(kept, run_folder("tiny", recipe, 9, elsewhere, (512, 256), tmp_path))
    loaded = trained(*small, recipe, seed=9, device="cuda", model="tiny", root=tmp_path)
    assert {p.device for p in loaded.model.parameters()} == {elsewhere}
    assert len(loaded.history) == 1  # loaded, not trained on the meta device (it cannot be)


def test_a_run_asked_for_on_the_cpu_trains_there_beside_a_gpu(small, tmp_path, monkeypatch):
    """``device="cpu"`` on a machine with a GPU: the run is trained on the CPU, as its folder
    says, not on the GPU ``fit`` would pick of itself (here a GPU that fails if used)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    result = trained(*small, replace(QUICK, epochs=1), seed=10, device="cpu", model="tiny",
                     root=tmp_path)  # fmt: skip
    assert {p.device.type for p in result.model.parameters()} == {"cpu"}


def test_page_speed_table_reads_each_networks_latest_line_of_today():
    def line(network, page_ms, macs=None, accuracy=0.95):
        today = int(model_summaries().loc[network, "MACs per image"])
        return {
            "network": network, "multiply-adds per image": today if macs is None else macs,
            "page ms per step": page_ms, "torch float64 ms per step": page_ms / 4,
            "torch float32 ms per step": page_ms / 8,
            "pass": {"seconds": page_ms / 2, "test accuracy": accuracy},
        }  # fmt: skip

    lines = [
        line("tiny", 100.0),  # superseded
        line("separable-31", 240.0, macs=1),  # an earlier version of the network
        line("tiny", 140.0, accuracy=0.952),
    ]
    table = page_speed_table(lines, ["tiny", "separable-31", "separable-19"])
    assert list(table.index) == ["tiny"]  # no line of today's separable-31 or separable-19
    row = table.loc["tiny"]
    assert row["page ms per step"] == 140.0 and row["PyTorch float64 ms"] == 35.0
    assert row["page ÷ float64"] == pytest.approx(4.0) and row["one pass (s)"] == 70.0
    assert row["test accuracy after it (%)"] == pytest.approx(95.2)
    with pytest.raises(ValueError, match="unknown model 'huge'"):
        page_speed_table(lines, ["huge"])
    assert table.index.name == "network"
    assert list(table.columns) == [
        "page ms per step", "PyTorch float64 ms", "PyTorch float32 ms", "page ÷ float64",
        "one pass (s)", "test accuracy after it (%)",
    ]  # fmt: skip
    assert row["PyTorch float32 ms"] == 17.5
    lines.append(line("tiny", 160.0))
    assert page_speed_table(lines, ["tiny"]).loc["tiny", "page ms per step"] == 160.0


@pytest.mark.parametrize("name", [n for n in MODELS if n not in ("net", "skeleton")])
def test_batch_normalisation_leaves_no_convolution_a_bias_but_the_last(name):
    """A convolution whose output batch normalisation standardises (directly, or after the next
    convolution) needs no bias: the steps drop every one but the last 1 × 1's, whose scores no
    normalisation follows."""
    network = build_model(name)
    convolutions = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [conv.bias is not None for conv in convolutions] == [False] * (
        len(convolutions) - 1
    ) + [True]


def test_a_separable_block_is_two_convolutions_each_normalised_then_rectified():
    from nnbook.mnist.networks.candidates import separable_bn

    block = separable_bn(4, 6)
    kinds = [type(layer).__name__ for layer in block]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU"] * 2
    depthwise, pointwise = block[0], block[3]
    assert (depthwise.groups, depthwise.kernel_size, pointwise.kernel_size) == (4, (3, 3), (1, 1))
    assert (depthwise.out_channels, pointwise.out_channels) == (4, 6)
