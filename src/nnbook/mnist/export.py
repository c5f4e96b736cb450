"""The trained networks for the page "Draw a digit": weights and layers as JavaScript.

A page opened from ``file://`` cannot ``fetch`` a file, so each network is one script that a
plain ``<script>`` tag loads: it registers ``window.nnbookDigitModels[name]`` with

- ``layers``: the network's layers in the order its ``forward`` runs them (the same walk as
  ``nnbook.mnist.manual.network_layers``), each with the state-dict keys of its parameters and
  the receptive field of its output (``nnbook.mnist.layer_report.receptive_fields``);
- ``state``: every entry of the PyTorch state dict (BatchNorm's running statistics included) as
  ``{shape, dtype, data}``, the data base64-encoded little-endian float32 (or int64);
- ``mean`` and ``std``: the normalisation of the training set, which the page applies to ink
  values in [0, 1] as ``nnbook.mnist.data.load`` does;
- ``testAccuracy``: the final test accuracy of the run the weights come from;
- ``form``: how MNIST made its digits (``FIELD``, ``BOX``), which the page repeats;
- ``label``: what the page says of it beside its name (``PAGE_LABELS``), or null.

A convolution's layer carries its ``padding`` and ``groups`` (a depthwise convolution has one
group per channel; its weight is O × C/groups × k × k, as PyTorch keeps it).

The chapters that train the networks call ``write_for_page`` while the book is built: the files
go to the built book's ``_static/`` (``$NNBOOK_STATIC``, set by ``nnbook.sphinxext``), never into
the sources. Outside a build (nbval, Colab) the variable is unset and nothing is written.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nnbook.files import atomic_write
from nnbook.mnist.data import MNIST
from nnbook.mnist.layer_report import receptive_fields
from nnbook.mnist.manual import LAYER_KINDS, network_layers
from nnbook.mnist.networks import ANSWER

#: Where a build wants the page's files: the Sphinx extension points it at ``_static/``.
STATIC_VARIABLE = "NNBOOK_STATIC"
#: The networks the page can show, by their names in ``nnbook.mnist.networks.MODELS``: the
#: training chapter's ``net``, ``tiny`` and the small networks chapter's answer.
PAGE_MODELS = ("net", "tiny", ANSWER)
#: The networks the build's chapters export for drawing, which the page loads (a subset of
#: ``PAGE_MODELS``; the page's choice lists whatever was exported).
DRAWN_MODELS = ("net", ANSWER)
#: What the page says of a network beside its name, where it says more than the name.
PAGE_LABELS = {ANSWER: "the chapter's answer"}
#: Test digits the page can pick from (the keyboard's way in), written with the first network.
SAMPLE_DIGITS = 100
#: How MNIST made its digits, which the page repeats with a drawing: the ink's bounding box
#: scaled to fit BOX × BOX pixels, placed by its centre of mass in a FIELD × FIELD image.
FIELD = 28
BOX = 20


def script_name(model: str) -> str:
    """The file of one network in ``_static/``."""
    return f"nnbook-digits-{model}.js"


SAMPLES_SCRIPT = "nnbook-digits-samples.js"


def encode_tensor(tensor: torch.Tensor) -> dict[str, object]:
    array = tensor.detach().cpu().numpy()
    dtype = "int64" if array.dtype.kind in "iu" else "float32"
    data = array.astype("<i8" if dtype == "int64" else "<f4").tobytes()
    return {"shape": list(array.shape), "dtype": dtype, "data": base64.b64encode(data).decode()}


def _layer(name: str, module: nn.Module, fields: dict[str, dict[str, float]]) -> dict:
    """One layer as the page walks it: its kind, its state-dict keys and its numbers."""
    key = f"{name}." if name else ""
    kind = LAYER_KINDS[type(module)]
    keys = {}
    for local in ("weight", "bias"):
        if local in module._parameters:  # None where the layer has none (a conv without bias)
            keys[local] = key + local if module._parameters[local] is not None else None
    if isinstance(module, nn.BatchNorm2d):
        keys |= {"mean": key + "running_mean", "var": key + "running_var"}
    return {
        "name": name,
        "type": type(module).__name__,
        "kind": kind.page,
        **keys,
        **kind.numbers(module),
        "field": fields[name],
    }


def layer_plan(model: nn.Module) -> list[dict]:
    """The layers of ``model`` in order, each with the receptive field of its output: size,
    jump, and ``start``, the input pixel at the centre of the field of output pixel (0, 0)."""
    field = {"size": 1, "jump": 1, "start": 0.0}
    by_name = {f.name: f for f in receptive_fields(model)}
    fields = {}
    for name, _ in network_layers(model):
        if name in by_name:
            f = by_name[name]
            field = {"size": f.receptive_field, "jump": f.jump, "start": f.start}
        fields[name] = field
    return [_layer(name, module, fields) for name, module in network_layers(model)]


def model_export(
    model: nn.Module, mean: float, std: float, test_accuracy: float
) -> dict[str, object]:
    """Everything the page needs of one trained network (see the module's docstring)."""
    return {
        "layers": layer_plan(model),
        "state": {key: encode_tensor(value) for key, value in model.state_dict().items()},
        "mean": mean,
        "std": std,
        "testAccuracy": test_accuracy,
        "form": {"field": FIELD, "box": BOX},
    }


def javascript(variable: str, name: str, value: object) -> str:
    """A script that sets ``window[variable][name] = value``."""
    target = f"(window.{variable} = window.{variable} || {{}})"
    return f"{target}[{json.dumps(name)}] = {json.dumps(value)};\n"


def static_folder() -> Path | None:
    """The built book's ``_static/`` when a build asked for the files, else None."""
    folder = os.environ.get(STATIC_VARIABLE, "").strip()
    return Path(folder) if folder else None


def write_static_script(file_name: str, text: str) -> Path | None:
    """``text`` as ``file_name`` in the built book's ``_static/`` (atomically, the folder made
    if need be); None outside a build, where nothing is written."""
    folder = static_folder()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    return path


def write_for_page(
    model: nn.Module, name: str, mean: float, std: float, test_accuracy: float
) -> Path | None:
    """Write ``name``'s script into the built book (atomically); None outside a build."""
    if static_folder() is None:
        return None
    if name not in PAGE_MODELS:
        raise ValueError(f"the page shows {', '.join(PAGE_MODELS)}, not {name!r}")
    exported = model_export(model, mean, std, test_accuracy) | {"label": PAGE_LABELS.get(name)}
    return write_static_script(script_name(name), javascript("nnbookDigitModels", name, exported))


def ink_bytes(data: MNIST, images: torch.Tensor) -> np.ndarray:
    """Normalised images (N × 1 × 28 × 28) back to MNIST's bytes: ink 0-255, N × 28 × 28."""
    ink = (images[:, 0].float() * data.std + data.mean) * 255
    return ink.round().clamp(0, 255).to(torch.uint8).numpy()


def write_samples(data: MNIST) -> Path | None:
    """The first ``SAMPLE_DIGITS`` test digits as ink bytes (0-255) and their labels, for the
    page's "pick a test digit"; None outside a build."""
    if static_folder() is None:
        return None
    pixels = ink_bytes(data, data.test.images[:SAMPLE_DIGITS]).tobytes()
    value = {
        "pixels": base64.b64encode(pixels).decode(),
        "labels": data.test.labels[:SAMPLE_DIGITS].tolist(),
    }
    return write_static_script(
        SAMPLES_SCRIPT, f"window.nnbookDigitSamples = {json.dumps(value)};\n"
    )
