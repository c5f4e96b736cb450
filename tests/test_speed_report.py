"""``nnbook.mnist.speed_report``: what the speed record says, on lines made here whose figures
are worked out by hand in the comments."""

import math

import pytest

from nnbook.mnist import speed_report
from nnbook.prose import Markdown


def epoch_row(model="net", seconds=10.0, share=30.0, convolutions=4.0, ceiling=75.0, **extra):
    return {
        "model": model,
        "MACs per image": 100,
        "batch size": 64,
        "seconds per epoch": seconds,
        "convolutions alone, s": convolutions,
        "% of matmul": share,
        "ceiling, % of matmul": ceiling,
        "step ms by kind": {"convolution": 6.0, "batch norm": 2.0, "ReLU": 1.0, "other": 1.0},
    } | extra


def speed_line(*rows, cpu="Xeon", vector="AVX512", date="2026-12-01", variants=(), bf16=True):
    return {
        "cpu": cpu,
        "date": date,
        "vector instructions": vector,
        "matmul GFLOP/s": 200.0,
        "threads": 2,
        "bfloat16 in hardware": bf16,
        "epochs": list(rows),
        "variants": list(variants),
    }


def test_precision_is_bfloat16_only_where_the_recipe_says_so():
    assert speed_report.precision_of({"cpu_bfloat16": True}) == "bfloat16"
    assert speed_report.precision_of({"cpu_bfloat16": False}) == "float32"
    assert speed_report.precision_of({}) == "float32"
    assert speed_report.precision_of(math.nan) == "float32"  # a line older than recipes
    assert speed_report.precision_of(None) == "float32"


def test_epochs_keep_only_the_networks_as_they_are_now():
    lines = [
        speed_line(epoch_row(), epoch_row("tiny", **{"MACs per image": 90})),
        speed_line(epoch_row(seconds=12.0, recipe={"cpu_bfloat16": True}), date="2026-12-02"),
    ]
    epochs = speed_report.cpu_epochs(lines, {"net": 100, "tiny": 80})  # tiny changed since
    assert list(epochs["model"]) == ["net", "net"]
    assert list(epochs.index) == [0, 1] and "index" not in epochs
    assert list(epochs["epoch ÷ convolutions"]) == [2.5, 3.0]  # 10 / 4, 12 / 4
    assert list(epochs["date"]) == ["2026-12-01", "2026-12-02"]
    assert set(epochs["CPU"]) == {"Xeon"} and set(epochs["threads"]) == {2}
    assert set(epochs["matmul GFLOP/s"]) == {200.0} and set(epochs["vector instructions"]) == {
        "AVX512"
    }
    assert epochs["recipe"].iloc[1] == {"cpu_bfloat16": True}
    assert speed_report.precision_of(epochs["recipe"].iloc[0]) == "float32"


def test_epochs_without_any_recipe_read_as_float32():
    epochs = speed_report.cpu_epochs([speed_line(epoch_row())], {"net": 100})
    assert epochs["recipe"].isna().all()


def verdicts(*rows_and_vectors, target=60.0):
    lines = [speed_line(row, vector=vector) for row, vector in rows_and_vectors]
    epochs = speed_report.cpu_epochs(lines, {"net": 100})
    return speed_report.cpu_verdicts(epochs, "net", target)


def table(*rows_and_vectors, target=60.0):
    """The target table of one line per row, measured on consecutive days from 2026-12-01."""
    lines = [
        speed_line(row, vector=vector, date=f"2026-12-{day:02d}")
        for day, (row, vector) in enumerate(rows_and_vectors, start=1)
    ]
    epochs = speed_report.cpu_epochs(lines, {"net": 100})
    return speed_report.target_table(epochs, "net", target)


def test_a_measurement_against_the_target_in_numbers():
    # 10 s at 30 % of matmul is 5 s at 60 %; the convolutions alone take 4 s: 1 s left of the
    # 6 s the rest took
    measured = table((epoch_row(), "AVX512"))
    assert verdicts((epoch_row(), "AVX512"))["cpu-target"] == 60.0
    assert measured.index.names == ["CPU", "date", "instructions"]
    assert measured.loc[("Xeon", "2026-12-01", "AVX512")].to_dict() == {
        "threads": 2,
        "arithmetic": "float32",
        "epoch (s)": 10.0,
        "% of matmul": 30.0,
        "at the target (s)": pytest.approx(5.0),
        "convolutions alone (s)": 4.0,
        "left for the rest (s)": pytest.approx(1.0),
        "the rest took (s)": 6.0,
    }


def test_convolutions_slower_than_the_target_leave_nothing():
    bfloat16 = {"recipe": {"cpu_bfloat16": True}}
    measured = table(
        (epoch_row(convolutions=6.0, ceiling=50.0), "AVX2"),  # 5 s at the target: -1 s left
        (epoch_row(convolutions=5.0, **bfloat16), "AVX512"),  # 0 s left
    )
    assert list(measured.index.get_level_values("instructions")) == ["AVX2", "AVX512"]
    assert list(measured["arithmetic"]) == ["float32", "bfloat16"]
    assert list(measured["left for the rest (s)"]) == [0.0, pytest.approx(0.0)]
    assert list(measured["the rest took (s)"]) == [4.0, 5.0]


def test_the_table_of_a_network_never_measured_is_an_error():
    epochs = speed_report.cpu_epochs([speed_line(epoch_row())], {"net": 100})
    with pytest.raises(ValueError, match=r"^the speed record measures no epoch of 'tiny'$"):
        speed_report.target_table(epochs, "tiny", 60.0)


def test_the_convolutions_verdict_names_the_instructions_on_each_side_of_the_target():
    kinds = verdicts((epoch_row(ceiling=70.0), "AVX512"), (epoch_row(ceiling=80.0), "AMX"))
    assert kinds["cpu-conv-verdict"].startswith(
        "The convolutions themselves are not the problem where the CPU has AMX or AVX512: they"
    )
    fast = verdicts((epoch_row(ceiling=116.4), "AVX512"), (epoch_row(ceiling=133.0), "AVX512"))
    assert fast["cpu-conv-verdict"] == (
        "The convolutions themselves are not the problem where the CPU has AVX512: they "
        "multiply small matrices, and oneDNN, the library PyTorch calls for them on a CPU, runs "
        "them at 116 to 133 % of the rate of one large multiply (the table's last column)."
    )
    both = verdicts((epoch_row(ceiling=60.0), "AVX512"), (epoch_row(ceiling=40.2), "AVX2"))
    assert both["cpu-conv-verdict"].endswith(
        "at 60 % of the rate of one large multiply (the table's last column). With AVX2 only "
        "they reach 40 %, below the target: there the convolutions alone rule it out."
    )
    slow = verdicts((epoch_row(ceiling=39.0), "AVX2"), (epoch_row(ceiling=41.0), "SSE"))
    assert slow["cpu-conv-verdict"] == (
        "With AVX2 and SSE only they reach 41 %, below the target: there the convolutions "
        "alone rule it out."
    )


def test_what_the_target_leaves_the_rest_in_the_latest_measurement():
    # 10 s at 50 % is 8.33 s at 60 %; minus 4 s of convolutions, 4.33 s of the 6 s the rest
    # takes now: 72 %
    rest = verdicts((epoch_row(share=90.0), "AVX2"), (epoch_row(share=50.0), "AVX512"))
    assert rest["cpu-rest-verdict"] == (
        "in the latest measurement, in float32, the target leaves everything else 72 % of the "
        "time it takes now"
    )
    above = verdicts((epoch_row(share=60.0, recipe={"cpu_bfloat16": True}), "AVX512"))
    assert above["cpu-rest-verdict"] == (
        "the latest measurement, in bfloat16, already runs above the target"
    )
    at_target = verdicts((epoch_row(share=50.0, ceiling=60.0), "AVX512"))
    assert at_target["cpu-rest-verdict"].endswith(
        "leaves everything else 72 % of the time it takes now"
    )
    ruled_out = verdicts((epoch_row(share=20.0, ceiling=59.9), "AVX2"))
    assert ruled_out["cpu-rest-verdict"] == (
        "on the CPU measured latest (AVX2, float32) not even an epoch whose rest cost nothing "
        "would reach it"
    )


def test_verdicts_of_a_network_never_measured_are_an_error():
    epochs = speed_report.cpu_epochs([speed_line(epoch_row())], {"net": 100})
    with pytest.raises(ValueError, match=r"^the speed record measures no epoch of 'tiny'$"):
        speed_report.cpu_verdicts(epochs, "tiny", 60.0)


def test_a_step_profile_in_shares_of_the_latest_measurement():
    later = epoch_row()
    later["step ms by kind"] = {"convolution": 5.0, "batch norm": 1.0, "ReLU": 0.5, "pooling": 0.5}
    later["step ms by kind"] |= {"dropout": 1.0, "other": 2.0}
    lines = [speed_line(epoch_row()), speed_line(epoch_row(), date="2026-12-02")]
    lines.append(speed_line(later, date="2026-12-03"))  # the latest
    lines[0]["epochs"].append(epoch_row("tiny"))
    epochs = speed_report.cpu_epochs(lines, {"net": 100, "tiny": 100})
    table, figures = speed_report.step_profile(epochs, "net")
    assert figures == {  # of 10 ms: 5 convolution, 1 + 0.5 + 0.5 + 1 memory, 1 batch norm
        "conv-share-of-step": 50.0,
        "memory-share-of-step": 30.0,
        "memory-kinds": "batch normalisation, ReLU, pooling and dropout",
        "bn-share-of-step": 10.0,
    }
    lines[-1]["epochs"][0]["step ms by kind"] |= {"dropout": 0.0, "pooling": 0.0}
    epochs = speed_report.cpu_epochs(lines, {"net": 100, "tiny": 100})
    _, figures = speed_report.step_profile(epochs, "net")
    assert figures["memory-kinds"] == "batch normalisation and ReLU"  # those that took any time
    lines[-1]["epochs"][0]["step ms by kind"] |= {"pooling": 0.05}  # half a percent of the step
    epochs = speed_report.cpu_epochs(lines, {"net": 100, "tiny": 100})
    kinds = speed_report.step_profile(epochs, "net")[1]["memory-kinds"]
    assert kinds == "batch normalisation, ReLU and pooling"
    lines[-1]["epochs"][0]["step ms by kind"] |= {"pooling": 0.0}
    lines[-1]["epochs"][0]["step ms by kind"] |= {"batch norm": 0.0}
    epochs = speed_report.cpu_epochs(lines, {"net": 100, "tiny": 100})
    assert speed_report.step_profile(epochs, "net")[1]["memory-kinds"] == "ReLU"
    lines[-1]["epochs"][0]["step ms by kind"] |= {"ReLU": 0.0}
    epochs = speed_report.cpu_epochs(lines, {"net": 100, "tiny": 100})
    with pytest.raises(ValueError, match=r"^nothing to name$"):
        speed_report.step_profile(epochs, "net")
    assert list(table.columns.get_level_values(0).unique()) == ["ms per step", "% of the step"]
    assert list(table["ms per step"].columns) == [f"Xeon, 2026-12-0{day}" for day in (1, 2, 3)]
    assert table.loc["convolution", ("% of the step", "Xeon, 2026-12-01")] == 60.0  # 6 of 10
    assert table.loc["batch norm", ("ms per step", "Xeon, 2026-12-01")] == 2.0


def variant(model, name, ms):
    return {"model": model, "batch size": 64, "variant": name, "ms per step": ms}


def test_the_variant_table_orders_the_variants_and_leaves_a_gap_where_one_did_not_run():
    lines = [
        speed_line(variants=[variant("net", "bfloat16", 8.0), variant("net", "eager", 10.0)]),
        speed_line(
            variants=[variant("net", "compiled", 9.0), variant("net", "eager", 11.0)],
            date="2026-11-02",  # earlier, but later in the record: the table keeps its order
        ),
        speed_line(),
        {"cpu": "Xeon", "date": "2026-10-01"},  # older than --variants
    ]
    table = speed_report.variant_table(lines)
    assert list(table.index.get_level_values("date")) == ["2026-12-01", "2026-11-02"]
    assert list(table.columns) == ["eager", "compiled", "bfloat16"]
    assert table.index.names == ["CPU", "date", "model", "batch size"]
    assert list(table["eager"]) == [10.0, 11.0]
    assert math.isnan(table["compiled"].iloc[0]) and math.isnan(table["bfloat16"].iloc[1])
    message = "^no variants recorded: run bench/timing/speed.py --variants --record$"
    with pytest.raises(ValueError, match=message):
        speed_report.variant_table([speed_line()])


def step_line(eager, compiled, bf16, bf16_in_hardware, model="net", date="2026-12-01"):
    steps = [variant(model, "eager", eager), variant(model, "compiled", compiled)]
    steps.append(variant(model, "bfloat16", bf16))
    return speed_line(variants=steps, bf16=bf16_in_hardware, date=date)


def test_compile_and_bfloat16_are_read_from_the_latest_line_that_ran_both():
    lines = [
        step_line(10.0, 20.0, 40.0, False),
        step_line(40.0, 30.0, 20.0, True, date="2026-12-02"),
        speed_line(variants=[variant("net", "eager", 1.0)]),  # ran neither
        speed_line(variants=[variant("net", "eager", 1.0), variant("net", "compiled", 1.0)]),
        step_line(1.0, 1.0, 1.0, True, model="tiny"),
        {"cpu": "Xeon", "date": "2026-10-01"},  # older than --variants
    ]
    figures = speed_report.compiled_and_bfloat16(lines, "net")
    assert figures == {
        "step-eager": 40.0,
        "step-compiled": 30.0,
        "compile-verdict": "25 % less time",
        "bf16-verdict": "bfloat16 made the step 2.0 times as fast on the machine measured "
        "latest, whose CPU has instructions for bfloat16 arithmetic.",
    }
    assert isinstance(figures["bf16-verdict"], Markdown)
    slower = speed_report.compiled_and_bfloat16(lines[:1], "net")
    assert slower["compile-verdict"] == "100 % more time"
    assert slower["bf16-verdict"] == (
        "bfloat16 made the step 4.0 times as slow on the machine measured latest, whose CPU "
        "lacks instructions for bfloat16 arithmetic."
    )
    even = speed_report.compiled_and_bfloat16([step_line(10.0, 10.0, 10.0, True)], "net")
    assert even["compile-verdict"] == "as much time"
    nearly = speed_report.compiled_and_bfloat16([step_line(100.0, 100.4, 10.0, True)], "net")
    assert nearly["compile-verdict"] == "as much time"  # -0.4 %, "0 %" in words
    assert even["bf16-verdict"].startswith("bfloat16 made the step 1.0 times as fast")
    barely = speed_report.compiled_and_bfloat16([step_line(100.0, 99.2, 10.0, True)], "net")
    assert barely["compile-verdict"] == "1 % less time"
    message = "^no line of the speed record ran 'net' compiled and in bfloat16$"
    with pytest.raises(ValueError, match=message):
        speed_report.compiled_and_bfloat16(lines[2:], "net")


def test_emulated_bfloat16_is_read_on_every_cpu_without_the_instructions():
    lines = [
        step_line(10.0, 1.0, 70.0, False),
        step_line(10.0, 1.0, 5.0, True),
        speed_line(variants=[variant("net", "eager", 1.0)], bf16=False),
        step_line(20.0, 1.0, 30.0, False),
        step_line(1.0, 1.0, 9.0, False, model="tiny"),
        {"cpu": "Xeon", "date": "2026-10-01", "bfloat16 in hardware": False},
    ]
    assert speed_report.emulated_bfloat16_ratios(lines, "net") == [7.0, 1.5]


def kernel_line(rows, date="2026-12-03"):
    steps = []
    for model, (eager, other, without) in rows.items():
        steps += [variant(model, "eager", eager), variant(model, "other memory format", other)]
        steps.append(variant(model, "without oneDNN", without))
    return speed_line(variants=steps, date=date, cpu="EPYC")


def test_the_kernels_verdict_of_the_latest_line_that_turned_onednn_off():
    formats = {"net": "NCHW", "tiny": "channels-last"}
    lines = [
        kernel_line({"tiny": (5.0, 4.0, 6.0), "net": (10.0, 12.0, 30.0)}),
        step_line(1.0, 1.0, 1.0, True),  # later, but without those variants
        {"cpu": "Xeon", "date": "2026-10-01"},  # older than --variants
    ]
    verdict, slowdowns = speed_report.kernels_verdict(lines, formats)
    assert verdict == (
        "On the EPYC (2026-12-03), ms per step in each network's own memory format, in the "
        "other one, and without oneDNN:\n\n- `tiny` (channels-last): 5.0, 4.0, 6.0\n- `net` "
        "(NCHW): 10.0, 12.0, 30.0\n\nThe other format was slower for 1 of the 2 "
        "networks, and PyTorch's own kernels 1.2 to 3.0 times as slow as oneDNN's."
    )
    assert isinstance(verdict, Markdown)
    assert list(slowdowns.items()) == [("tiny", 1.2), ("net", 3.0)]
    same = speed_report.kernels_verdict([kernel_line({"net": (10.0, 10.0, 20.0)})], formats)[0]
    assert same.endswith(
        "The other format was not slower, and PyTorch's own kernels 2.0 times as slow as oneDNN's."
    )
    one = [lines[0], kernel_line({"net": (10.0, 12.0, 20.0)}, date="2026-12-04")]
    verdict, _ = speed_report.kernels_verdict(one, formats)
    assert verdict.startswith("On the EPYC (2026-12-04)")
    assert verdict.endswith(
        "The other format was slower, and PyTorch's own kernels 2.0 times as "
        "slow as oneDNN's. Neither pays: each network keeps its format, and oneDNN computes "
        "every step."
    )
    with pytest.raises(
        ValueError, match=r"^no line of the speed record ran a step without oneDNN$"
    ):
        speed_report.kernels_verdict(lines[1:], formats)


def probe(faults, seconds, keep_freed=True, weights="ab" * 32):
    return {
        "page_faults_per_step": faults,
        "seconds_per_step": seconds,
        "keep_freed": keep_freed,
        "weights_sha256": weights,
    }


def test_the_malloc_verdict_in_numbers_and_where_there_is_no_glibc():
    verdict = speed_report.malloc_verdict(probe(9596.5, 1.4), probe(71.6, 0.7))
    assert verdict == (
        "With `malloc` as it comes, a step page-faults 9,596 times and takes 1400 ms; keeping "
        "freed memory brings that to 72 faults and 700 ms, a factor of 2.0, and the weights "
        "after the steps are bit for bit the same."
    )
    assert isinstance(verdict, Markdown)
    fewer = speed_report.malloc_verdict(probe(9596.5, 1.4), probe(0.6, 0.7))
    assert "brings that to under one fault and 700 ms" in fewer
    one = speed_report.malloc_verdict(probe(9596.5, 1.4), probe(1.0, 0.7))
    assert "brings that to 1 fault and 700 ms" in one
    two = speed_report.malloc_verdict(probe(9596.5, 1.4), probe(1.6, 0.7))
    assert "brings that to 2 faults and 700 ms" in two
    elsewhere = speed_report.malloc_verdict(probe(10, 0.04), probe(10, 0.04, keep_freed=False))
    assert elsewhere == (
        "The machine that built this page does not use glibc, so `keep_freed_memory` changed "
        "nothing here: both rows ran with the C library's own allocator, and the weights after "
        "the steps are bit for bit the same."
    )
    message = "^keeping freed memory changed the weights the steps end with$"
    with pytest.raises(ValueError, match=message):
        speed_report.malloc_verdict(probe(1, 1.0), probe(1, 1.0, weights="cd" * 32))


def test_the_convolutions_alone_of_the_latest_measurement_on_the_same_kind_of_cpu():
    lines = [
        speed_line(epoch_row("tiny", convolutions=2.0), epoch_row(convolutions=4.0)),
        speed_line(epoch_row(convolutions=3.0), date="2026-12-02"),
        speed_line(epoch_row(convolutions=9.0), vector="AVX2"),
        speed_line(epoch_row(convolutions=8.0), cpu="EPYC"),
    ]
    epochs = speed_report.cpu_epochs(lines, {"net": 100, "tiny": 100})
    built_on = {"cpu": "Xeon", "vector instructions": "AVX512"}
    alone = speed_report.convolutions_alone(epochs, built_on)
    assert list(alone.items()) == [("tiny", 2.0), ("net", 3.0)]  # in the record's order
    assert speed_report.convolutions_alone(epochs, built_on | {"vector instructions": "AVX2"}) == {
        "net": 9.0
    }
    with pytest.raises(
        ValueError, match=r"^the speed record measures no epoch on the EPYC with AVX2$"
    ):
        speed_report.convolutions_alone(epochs, {"cpu": "EPYC", "vector instructions": "AVX2"})
