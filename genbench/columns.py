"""Listings that fit the terminal and never cut a name: the column printer every layer's commands use.

It knows nothing of runs, models or the CLI (only rich), so the suite commands, which sit below
the CLI, print with it as the CLI's listings do.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from rich.console import Console

FOLD_MIN = 20  # the narrowest a folded column (a path) is made


def print_columns(
    console: Console,
    headers: list[str],
    cells: list[list[str]],
    importance: list[str],
    right: Collection[str] = (),
    wrap: Collection[str] = (),
    fold: Collection[str] = (),
    title: str = "",
    see_all: str = "--format json has them all",
) -> None:
    """A listing on ``console`` that fits its width and never cuts a name.

    Columns not in ``wrap`` or ``fold`` (names, ids, numbers) are shown whole or not at all; ``wrap``
    columns (descriptions, lists of names) wrap between words, never inside one; ``fold`` columns
    (paths) continue on the next line wherever the width ends. The least important columns are
    left out until the rest fit, and a footer names them. Piped (not a terminal): every column
    in plain space-aligned lines, nothing cut, so ``| grep NAME`` finds whole rows; the ``wrap``
    and ``fold`` columns go last, widest at the end, so a long list lengthens only its own line. ``title``,
    when given, is printed above the listing; ``see_all`` ends the footer (how to see every column).
    """
    from rich.table import Table

    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    if not console.is_terminal:
        if title:
            print(title)
        # Wrapped and folded columns (lists, descriptions, paths) go last, the widest at the end,
        # so one long cell does not pad every row of the columns after it.
        long = {i for i, h in enumerate(headers) if h in wrap or h in fold}
        order = sorted(range(len(headers)), key=lambda i: (i in long, widths[i] if i in long else 0))  # stable
        for line in [headers, *cells]:
            padded = (line[i].rjust(widths[i]) if headers[i] in right else line[i].ljust(widths[i]) for i in order)
            print("  ".join(padded).rstrip())
        return
    # A wrapped column needs room for its longest word; any other column for its longest cell.
    need = {
        h: max(len(w) for v in [h] + [row[i] for row in cells] for w in (v.split() or [""])) if h in wrap else widths[i]
        for i, h in enumerate(headers)
    }
    need.update({h: min(widths[headers.index(h)], FOLD_MIN) for h in fold})
    keep: list[str] = []
    used = 1
    for name in (h for h in importance if h in headers):
        if not keep or used + need[name] + 3 <= console.width:  # a cell's padding and its border
            keep.append(name)
            used += need[name] + 3
    # The room left is shared out to the wrapped and folded columns, most important first, up to
    # their natural width: each gets a fixed width, so the table is never wider than the terminal
    # (rich, left to shrink them itself, may instead cut a whole column at its right edge).
    room = console.width - used
    fixed: dict[str, int] = {}
    for name in (h for h in keep if h in wrap or h in fold):
        extra = max(0, min(widths[headers.index(name)] - need[name], room))
        fixed[name], room = need[name] + extra, room - extra
    table = Table(header_style="bold", title=title or None, title_justify="left")
    for i, h in enumerate(headers):
        if h in keep:
            justify: Literal["right", "left"] = "right" if h in right else "left"
            if h in wrap or h in fold:
                table.add_column(h, width=fixed[h], justify=justify, overflow="fold")
            else:
                table.add_column(h, no_wrap=True, min_width=widths[i], justify=justify)
    for row in cells:
        table.add_row(*(v for v, h in zip(row, headers) if h in keep))
    console.print(table)
    hidden = [h for h in headers if h not in keep]
    if hidden:
        console.print(f"[dim]{', '.join(hidden)} left out to fit {console.width} columns; {see_all}[/]")
