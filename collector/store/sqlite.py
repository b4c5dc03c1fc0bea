"""The store's old module name: everything now lives in :mod:`collector.store.store`
(one store, two engines, issue #14). Kept so older imports keep working."""

from collector.store.store import (
    AutoEnrolled,
    Batch,
    SqliteStore,
    Store,
    StoreError,
    SubjectUpdate,
    TelemetryRow,
    WriteResult,
    connect,
    dumps,
    open_store,
)

__all__ = [
    "AutoEnrolled",
    "Batch",
    "SqliteStore",
    "Store",
    "StoreError",
    "SubjectUpdate",
    "TelemetryRow",
    "WriteResult",
    "connect",
    "dumps",
    "open_store",
]
