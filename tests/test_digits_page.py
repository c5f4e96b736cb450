"""The page "Draw a digit" in headless Chromium, opened from ``file://`` with every other request
blocked: the networks the build trained, run in JavaScript, against PyTorch on the same weights;
the whole test set (PyTorch on the page's weights; the page itself on a thousand digits);
strokes drawn with the mouse; the receptive-field highlight; a blank pad.
Needs the built book (the training chapters write the networks' scripts while it builds).
"""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
import torch
from bs4 import BeautifulSoup
from built_book import HTML, page_from_file
from page_gradients import normalisation

from nnbook.mnist.checkpoints import MODEL
from nnbook.mnist.data import read_raw
from nnbook.mnist.environment import seed_from_environment
from nnbook.mnist.export import DRAWN_MODELS
from nnbook.mnist.layer_report import receptive_fields
from nnbook.mnist.networks import ANSWER, build_model
from nnbook.mnist.recipes import recipe_for
from nnbook.mnist.runs import run_folder, runs_root

pytestmark = pytest.mark.book  # reads the built book

PAGE = HTML / "book" / "part2" / "digits.html"
#: Which chapter reports each network's final test accuracy, and in which sentence.
REPORTED = {"net": "book/part2/training.html", ANSWER: "book/part2/small.html"}
STATED = {
    "net": r"After the last epoch the network classifies {} % of the test",
    ANSWER: r"parameters; final test accuracy {} %",
}
AGREEMENT_DIGITS = 200
PREDICTION_DIGITS = 1000


@pytest.fixture(scope="module")
def tab():
    with page_from_file(PAGE, 'document.querySelector("canvas.nnbook-digit-pad")') as page:
        yield page


@pytest.fixture(scope="module")
def test_set():
    _, _, images, labels = read_raw(download=False)
    return images.numpy(), labels.numpy()


def state_dict(tab, name: str) -> dict[str, torch.Tensor]:
    exported = tab.evaluate(
        """name => Object.fromEntries(Object.entries(nnbookDigits.stateDict(name))
             .map(([key, value]) => [key, {shape: value.shape, data: Array.from(value.data)}]))""",
        name,
    )
    return {
        key: torch.tensor(value["data"], dtype=torch.float64).reshape(value["shape"])
        for key, value in exported.items()
    }


def page_log_probabilities(tab, name: str, pixels: np.ndarray) -> np.ndarray:
    """The page's log-probabilities for ``pixels`` (N × 784 ink values in [0, 1])."""
    values = tab.evaluate(
        """async ([name, rows]) => {
             const out = [];
             for (const row of rows) out.push(await nnbookDigits.logProbabilities(name, row));
             return out;
           }""",
        [name, pixels.tolist()],
    )
    return np.array(values)


@pytest.mark.parametrize("name", DRAWN_MODELS)
def test_the_page_holds_the_weights_the_build_trained(tab, mnist, name):
    """The page's state dict is the kept run's, value for value (float32, as exported)."""
    folder = run_folder(
        name, recipe_for(name), seed_from_environment(), torch.device("cpu"),
        (len(mnist.train), len(mnist.test)), runs_root(),
    )  # fmt: skip
    if not (folder / MODEL).is_file():
        pytest.fail(f"no finished run in {folder}: build the book first", pytrace=False)
    trained = torch.load(folder / MODEL, map_location="cpu")
    ours = state_dict(tab, name)
    assert list(tab.evaluate("nnbookDigits.models")) == list(DRAWN_MODELS)  # what was exported
    assert ours.keys() == trained.keys()
    for key, value in trained.items():
        assert torch.equal(ours[key].to(value.dtype), value), key


@pytest.mark.parametrize("name", DRAWN_MODELS)
def test_the_pages_log_probabilities_are_pytorchs(tab, test_set, name):
    network = build_model(name).double().eval()
    network.load_state_dict(state_dict(tab, name))
    images, _ = test_set
    pixels = images[:AGREEMENT_DIGITS].reshape(AGREEMENT_DIGITS, -1) / 255
    ours = page_log_probabilities(tab, name, pixels)
    mean, std = normalisation(tab, name)
    batch = torch.tensor((pixels - mean) / std).reshape(-1, 1, 28, 28)
    with torch.no_grad():
        theirs = network(batch).numpy()
    difference = float(np.abs(ours - theirs).max())
    print(
        f"{name}: largest difference from PyTorch over {AGREEMENT_DIGITS} digits {difference:.1e}"
    )
    assert difference <= 1e-6


def pytorch_predictions(tab, name: str, images: np.ndarray, dtype: torch.dtype) -> np.ndarray:
    """The digits PyTorch reads from ``images`` (N × 28 × 28 bytes) with the page's weights and
    normalisation, in ``dtype``."""
    network = build_model(name).to(dtype).eval()
    network.load_state_dict(state_dict(tab, name))
    mean, std = normalisation(tab, name)
    batch = ((torch.tensor(images, dtype=torch.float64) / 255 - mean) / std).to(dtype)
    with torch.no_grad():
        return network(batch.unsqueeze(1)).argmax(dim=1).numpy()


@pytest.mark.parametrize("name", DRAWN_MODELS)
def test_the_page_reads_the_test_set_as_the_chapters_report(tab, test_set, name):
    """The page's network reads the whole test set as the chapter reports. PyTorch reads all
    10,000 digits with the page's weights, in float32 as in training; the page's own predictions
    (float64) equal PyTorch's float64 ones on the first ``PREDICTION_DIGITS`` (all of them, in
    the page or in float64, would take a minute for ``net``)."""
    images, labels = test_set
    first = pytorch_predictions(tab, name, images[:PREDICTION_DIGITS], torch.float64)
    encoded = base64.b64encode(images[:PREDICTION_DIGITS].tobytes()).decode()
    ours = tab.evaluate(
        """([name, encoded, count]) => {
             const bytes = Uint8Array.from(atob(encoded), c => c.charCodeAt(0));
             const read = [];
             for (let k = 0; k < count; k++) {
               const ink = bytes.subarray(784 * k, 784 * (k + 1));
               const pixels = Float64Array.from(ink, b => b / 255);
               const logP = nnbookDigits.logProbabilities(name, pixels);
               read.push(logP.indexOf(Math.max(...logP)));
             }
             return read;
           }""",
        [name, encoded, PREDICTION_DIGITS],
    )
    assert ours == first.tolist()
    correct = int((pytorch_predictions(tab, name, images, torch.float32) == labels).sum())
    reported = tab.evaluate(f"nnbookDigits.testAccuracy('{name}')")
    print(f"{name}: the page's network reads {correct} of {len(labels)} test digits correctly")
    assert abs(correct - reported * len(labels)) <= 2  # float64 here, float32 in training
    html = (HTML / REPORTED[name]).read_text(encoding="utf-8")
    chapter = " ".join(BeautifulSoup(html, "html.parser").get_text().split())
    assert re.search(STATED[name].format(re.escape(f"{100 * reported:.2f}")), chapter)


def draw(tab, strokes: list[list[tuple[float, float]]]) -> str:
    """Clear the pad, draw ``strokes`` (points in [0, 1] of the pad) with the mouse, and return
    the prediction the page shows when the last stroke ends."""
    tab.click('button[data-action="clear"]')
    pad = tab.locator("canvas.nnbook-digit-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        tab.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        tab.mouse.down()
        for x, y in stroke[1:]:
            tab.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=4)
        tab.mouse.up()
    return tab.locator("[data-prediction]").inner_text().strip()


def ring(cx: float, cy: float, rx: float, ry: float, points: int = 40) -> list[tuple]:
    angles = np.linspace(0, 2 * np.pi, points)
    return [(cx + rx * np.sin(a), cy - ry * np.cos(a)) for a in angles]


STROKES = {
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "0": [ring(0.5, 0.5, 0.22, 0.33)],
    "7": [[(0.25, 0.18), (0.75, 0.18), (0.45, 0.85)]],
    "4": [[(0.55, 0.15), (0.25, 0.6), (0.75, 0.6)], [(0.6, 0.35), (0.6, 0.85)]],
    "2": [[(0.3, 0.3), (0.4, 0.18), (0.6, 0.18), (0.7, 0.3), (0.65, 0.45), (0.3, 0.82),
           (0.72, 0.82)]],
}  # fmt: skip


@pytest.mark.parametrize("name", DRAWN_MODELS)
@pytest.mark.parametrize("digit", list(STROKES))
def test_strokes_drawn_with_the_mouse_are_read(tab, name, digit):
    tab.select_option("#nnbook-digit-model", name)
    assert draw(tab, STROKES[digit]) == digit


@pytest.mark.parametrize("name", DRAWN_MODELS)
def test_the_highlight_covers_the_receptive_field_the_model_chapter_computes(tab, name):
    tab.select_option("#nnbook-digit-model", name)
    draw(tab, STROKES["0"])
    network = build_model(name)
    modules = dict(network.named_modules())
    last = [f for f in receptive_fields(network) if modules[f.name].kernel_size == (3, 3)][-1]
    group = tab.locator(
        ".nnbook-digit-map-group", has_text=re.compile(rf"^{re.escape(last.name)} ")
    )
    canvas = group.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    size = int(canvas.get_attribute("width"))
    box = canvas.bounding_box()
    middle = size // 2
    # the middle unit of the map: its field lies inside the image, nothing clipped
    tab.mouse.move(
        box["x"] + (middle + 0.5) * box["width"] / size,
        box["y"] + (middle + 0.5) * box["height"] / size,
    )
    field = tab.locator(".nnbook-digit-field")
    assert field.is_visible()
    shown = (int(field.get_attribute("data-rows")), int(field.get_attribute("data-columns")))
    assert shown == (last.receptive_field, last.receptive_field)


def test_the_answer_is_labelled_and_its_depthwise_maps_are_shown_channel_by_channel(tab):
    option = tab.locator(f'#nnbook-digit-model option[value="{ANSWER}"]')
    assert option.inner_text() == f"{ANSWER} (the chapter's answer)"
    tab.select_option("#nnbook-digit-model", ANSWER)
    draw(tab, STROKES["7"])
    depthwise = [
        (name, module)
        for name, module in build_model(ANSWER).named_modules()
        if isinstance(module, torch.nn.Conv2d) and module.groups > 1
    ]
    assert depthwise
    for name, module in depthwise:
        group = tab.locator(
            ".nnbook-digit-map-group", has_text=re.compile(rf"^{re.escape(name)} ")
        )
        assert "depthwise" in group.locator(".nnbook-digit-map-title").inner_text()
        assert group.locator("canvas").count() == module.out_channels == module.groups


def test_a_blank_pad_predicts_nothing(tab):
    draw(tab, STROKES["1"])
    assert tab.locator("[data-prediction]").inner_text().strip() == "1"
    tab.click('button[data-action="clear"]')
    assert tab.locator("[data-prediction]").inner_text().strip() == ""
    widths = tab.eval_on_selector_all(
        ".nnbook-digit-bar-fill", "bars => bars.map(b => b.style.width)"
    )
    assert set(widths) <= {"0", "0px", ""}


def test_a_test_digit_can_be_picked_without_a_pointer(tab):
    tab.focus('button[data-action="sample"]')
    tab.keyboard.press("Enter")
    status = tab.locator(".nnbook-digit-status").inner_text()
    label = re.search(r"labelled (\d)", status).group(1)
    assert tab.locator("[data-prediction]").inner_text().strip() == label
    milliseconds = float(tab.locator("[data-nnbook-digits]").get_attribute("data-milliseconds"))
    print(f"one digit through the chosen network and its maps: {milliseconds:.1f} ms")
