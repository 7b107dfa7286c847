"""Claims on suite jobs: one job, one run, however many suite runners share the store.

A runner claims a job (a row with the job's key as primary key: the INSERT is the atomic step,
on SQLite and PostgreSQL alike) before it looks at the store again and starts the job; it
refreshes its claims while it follows them, and deletes each when its job ends. A claim whose
runner went silent for ``STALE_AFTER`` (or whose process on this host is gone, after one missed
beat) is taken over by compare-and-set, the way :meth:`Store.claim` takes over a dead run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from genbench.store.db import LOCAL_GRACE, STALE_AFTER, Store, owner_gone
from genbench.store.schema import JobClaim, utcnow


def claim_is_stale(claim: JobClaim, now: datetime | None = None) -> bool:
    silent = (now or utcnow()) - claim.heartbeat
    return silent > STALE_AFTER or (silent > LOCAL_GRACE and owner_gone(claim.owner))


class JobClaims:
    """The claims one suite runner (``owner``) holds on a store."""

    def __init__(self, store: Store, owner: str) -> None:
        self.store, self.owner = store, owner
        self.held: set[str] = set()

    def claim(self, key: str) -> bool:
        """Atomically make this runner the one that runs job ``key``; False when another holds it."""
        for _ in range(3):  # a claim released between our INSERT and our read: insert again
            now = utcnow()
            try:
                with self.store.session() as s:
                    s.add(JobClaim(key=key, owner=self.owner, heartbeat=now, created_at=now))
                self.held.add(key)
                return True
            except IntegrityError:
                pass  # held by someone (maybe us, maybe a dead runner): look at the row
            with self.store.session() as s:
                row = s.get(JobClaim, key)
                if row is None:
                    continue
                if row.owner == self.owner:
                    self.held.add(key)
                    return True
                if not claim_is_stale(row, now):
                    return False
                done = s.execute(
                    update(JobClaim)
                    .where(JobClaim.key == key, JobClaim.owner == row.owner, JobClaim.heartbeat == row.heartbeat)
                    .values(owner=self.owner, heartbeat=now)
                    .execution_options(synchronize_session=False)
                )
                if done.rowcount == 1:
                    self.held.add(key)
                    return True
                return False
        return False

    def beat(self) -> None:
        """Refresh every claim this runner holds."""
        if self.held:
            with self.store.session() as s:
                s.execute(
                    update(JobClaim)
                    .where(JobClaim.key.in_(sorted(self.held)), JobClaim.owner == self.owner)
                    .values(heartbeat=utcnow())
                    .execution_options(synchronize_session=False)
                )

    def release(self, keys: Iterable[str]) -> None:
        """Give up the claims on ``keys`` (their jobs ended, or were left to another runner)."""
        keys = [k for k in keys if k in self.held]
        if keys:
            with self.store.session() as s:
                s.execute(delete(JobClaim).where(JobClaim.key.in_(keys), JobClaim.owner == self.owner))
            self.held.difference_update(keys)

    def release_all(self) -> None:
        try:
            self.release(list(self.held))
        except Exception:  # the store is unreachable: the claims go stale and are taken over
            self.held.clear()
