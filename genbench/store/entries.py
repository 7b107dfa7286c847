"""Entries that were not trained here: scored sample files and pretrained models.

Such an entry is stored whole, in one transaction, status "finished" with its metrics: there is
no training to follow, so no live status, owner or heartbeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from genbench.store.db import Store
from genbench.store.runs import _add_scores
from genbench.store.schema import Run

if TYPE_CHECKING:
    from genbench.api.metric import Score


def store_entry(store: Store, run: Run, scores: Sequence[Score]) -> None:
    """Store ``run`` (kind "samples" or "pretrained", status "finished") with its scores at once."""
    store.require_writable()
    run.status, run.owner = "finished", None
    with store.session() as s:
        s.add(run)
        s.flush()
        _add_scores(s, run.id, scores)
