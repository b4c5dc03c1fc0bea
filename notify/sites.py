"""Store name, address, merchant and phone by site id, read from the posfleet store (read-only).

The collector's alert labels carry ids (region, site, gateway, terminal), not the names a
technician needs on the phone; the store has them (SQLite file or PostgreSQL URL). Lookups
are cached briefly: a digest of 200 alerts for the same store asks once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from notify.render import SiteInfo
from notify.store import STORE_ERRORS, StoreLink

CACHE_S = 60.0


class SiteDirectory:
    def __init__(self, db: str | Path | None) -> None:
        self._store = StoreLink(db, readonly=True) if db is not None else None
        self._cache: dict[str, tuple[float, SiteInfo | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, site_id: str) -> SiteInfo | None:
        if self._store is None or not site_id:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(site_id)
            if hit is not None and now - hit[0] < CACHE_S:
                return hit[1]
            try:
                row = self._store.run(
                    lambda conn: conn.execute(
                        "SELECT s.name, s.merchant_name, s.merchant_contact, "
                        "coalesce(r.name, ''), s.address FROM sites s "
                        "LEFT JOIN regions r ON r.region_id = s.region_id WHERE s.site_id = ?",
                        (site_id,),
                    ).fetchone()
                )
            except STORE_ERRORS:
                row = None  # an unreadable store must not stop a page; it goes out without names
            info = SiteInfo(*row) if row else None
            self._cache[site_id] = (now, info)
            return info

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
