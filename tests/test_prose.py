"""``nnbook.prose``: the pieces of the reports' prose."""

import pytest
from IPython.core.formatters import DisplayFormatter

from nnbook.prose import Markdown, glue_figures, span


def test_markdown_is_shown_as_markdown_and_is_still_its_text():
    text = Markdown("- `net`: 10.0\n- `tiny`: 5.0")
    shown, _ = DisplayFormatter().format(text)
    assert shown["text/markdown"] == "- `net`: 10.0\n- `tiny`: 5.0"
    assert text == "- `net`: 10.0\n- `tiny`: 5.0" and text.startswith("- `net`")


def test_a_span_of_figures():
    assert span([5.24, 1.2, 3.0]) == "1.2 to 5.2"
    assert span([5.24, 5.21]) == "5.2"  # the same at one decimal
    assert span([116.4, 133.0], ".0f") == "116 to 133"
    assert span(iter([2.0])) == "2.0"
    assert span([1.0, float("inf")]) == "1.0 to inf"
    with pytest.raises(ValueError, match=r"^no figures to span$"):
        span([])


def test_a_reports_figures_are_glued_each_under_its_name_and_shown_nowhere(monkeypatch):
    import myst_nb

    glued = []
    monkeypatch.setattr(myst_nb, "glue", lambda *args, **kwargs: glued.append((args, kwargs)))
    glue_figures({"seeds-held": 5, "verdict": Markdown("*held*")})
    assert glued == [
        (("seeds-held", 5), {"display": False}),
        (("verdict", Markdown("*held*")), {"display": False}),
    ]
