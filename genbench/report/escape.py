"""Names in shared outputs made inert: a model, family or benchmark name is text, never markup,
a table column, a line break or a spreadsheet formula."""

from __future__ import annotations

import html
from typing import Any

# Characters markdown reads as inline markup (emphasis, code, links, images, pipes that end a
# cell): escaped with a backslash so the name shows as written. '<' and '>' are HTML-escaped.
_MD_SPECIAL = set("\\`*_[]|~!")
_MD_LINE_START = tuple("#>+-=")  # a heading, quote or list when a cell's text opens a line
# A CSV cell starting with one of these is a formula in Excel, LibreOffice and Google Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def md_cell(text: Any) -> str:
    """``text`` as one markdown table cell: HTML escaped (``<b>`` shows as text), inline markdown
    punctuation backslash-escaped, pipes escaped, newlines folded into spaces."""
    flat = " ".join(str(text).split())
    return "".join(f"\\{c}" if c in _MD_SPECIAL else c for c in html.escape(flat, quote=False))


def md_line(text: Any) -> str:
    """``text`` as a heading's or list item's words: as :func:`md_cell`, and a leading ``#``,
    ``>``, ``+``, ``-`` or ``=`` escaped so it opens no block of its own."""
    cell = md_cell(text)
    return "\\" + cell if cell.startswith(_MD_LINE_START) else cell


def csv_cell(value: Any) -> Any:
    """A CSV value a spreadsheet shows as text: a string starting with ``= + - @`` (or a tab or
    carriage return) gets a leading apostrophe, the OWASP advice. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
