"""``nnbook.prose``: the pieces of the reports' prose."""

import pytest
from IPython.core.formatters import DisplayFormatter
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

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


@pytest.fixture
def kernel():
    """An IPython shell, as the kernel that runs a chapter has; gone again after the test."""
    yield InteractiveShell.instance()
    InteractiveShell.clear_instance()


def test_a_reports_figures_are_glued_each_under_its_name_and_shown_nowhere(kernel):
    """In a kernel, as a chapter runs: each figure is recorded for the chapter's ``{glue}``
    roles (scrapbook's records, which myst-nb reads), the Markdown as Markdown, and nothing is
    shown or printed where the call is."""
    with capture_output() as captured:
        glue_figures({"seeds-held": 5, "verdict": Markdown("*held*")})
    records = {o.metadata["scrapbook"]["name"]: o.data for o in captured.outputs}
    assert list(records) == ["seeds-held", "verdict"]
    assert records["seeds-held"] == {"application/papermill.record/text/plain": "5"}
    assert records["verdict"]["application/papermill.record/text/markdown"] == "*held*"
    assert all(
        key.startswith("application/papermill.record/") for o in records.values() for key in o
    )
    assert captured.stdout == ""
