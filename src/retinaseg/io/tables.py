"""The one table writer: Markdown for reports, studies and benchmark results,
plain text for the terminal. Every table in the package goes through here, so
they all escape and align the same way."""
from __future__ import annotations

from collections.abc import Sequence


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|")  # a bare pipe would start a new column


def markdown_table(header: Sequence, rows: Sequence[Sequence], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (no trailing newline).

    ``align`` holds one letter per column, ``l`` or ``r`` (right-aligned
    columns suit numbers); without it every column is left as the renderer's
    default.
    """
    rule = {"l": "---", "r": "---:"}
    marks = [rule[a] for a in align] if align else ["---"] * len(header)
    lines = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: Sequence, rows: Sequence[Sequence], first_width: int = 22,
               width: int = 12) -> str:
    """A fixed-width table for the terminal: a left-aligned label, right-aligned cells."""
    def line(label, cells):
        return f"{label!s:<{first_width}}" + "".join(f"{cell!s:>{width}}" for cell in cells)

    return "\n".join([line(header[0], header[1:]), *(line(row[0], row[1:]) for row in rows)])
