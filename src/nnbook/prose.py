"""Pieces of the prose that reports write for the chapters: a paragraph in Markdown, a span
of figures; and the glue of a report's figures into the chapter that called it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class Markdown(str):
    """Prose with Markdown in it (a list, code): glued, it is shown as Markdown (``glue:md``)."""

    def _repr_markdown_(self) -> str:
        return str(self)


def span(values: Iterable[float], spec: str = ".1f") -> str:
    """'1.2 to 5.2' for the lowest and highest of ``values``, or '5.2' when both read alike
    at ``spec``."""
    values = list(values)
    if not values:
        raise ValueError("no figures to span")
    low, high = format(min(values), spec), format(max(values), spec)
    return low if low == high else f"{low} to {high}"


def glue_figures(figures: Mapping[str, object]) -> None:
    """Glue each figure of a report under its own name, for the chapter's ``{glue}`` roles; none
    is shown where the call is (the chapter's prose places it)."""
    from myst_nb import glue  # here, not above: the reports that use this module need no Sphinx

    for name, value in figures.items():
        glue(name, value, display=False)
