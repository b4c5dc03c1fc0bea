"""Operator actions as store writes (the dashboard calls these; the alert engine reads them).

Every action checks the actor's role, writes its rows and one ``audit_log`` row in a single
transaction, and returns what it wrote. Nothing here talks to MQTT or pages anyone: the alert
engine picks acknowledgements, suspensions and windows up from the store on its tick.

Exceptions::

    ActionError                 the action was not applied; retrying the same call won't help
    ├── PermissionDenied        the actor's role may not do this
    ├── NotFound                the alert / window / incident / subject does not exist
    └── InvalidAction           bad input (end before start, unknown scope, resolved alert...)
        └── CsvRejected         a CSV import with bad rows (``errors``: one per line)
"""

from __future__ import annotations

from collector.actions.alerts import (
    Bulk,
    acknowledge_alert,
    acknowledge_alerts,
    snooze_alert,
    snooze_alerts,
)
from collector.actions.base import (
    ActionError,
    Actor,
    InvalidAction,
    NotFound,
    PermissionDenied,
    Role,
    record_audit,
)
from collector.actions.cases import close_case, log_case_call, set_case_cause
from collector.actions.inventory import import_inventory
from collector.actions.oncall import add_override, load_oncall, remove_override, set_rotation
from collector.actions.policies import (
    CsvRejected,
    add_task_type,
    delete_firmware_policy,
    delete_schedule,
    export_firmware_policies,
    export_schedules,
    import_firmware_policies,
    import_schedules,
    set_firmware_policy,
    set_schedule,
)
from collector.actions.subjects import (
    FAULT_CATEGORIES,
    SUBJECT_TABLES,
    record_service,
    set_suspended,
    update_incident,
)
from collector.actions.windows import (
    SCOPE_TYPES,
    create_window,
    edit_window,
    end_window_early,
    open_window,
    reschedule_window,
)

__all__ = [
    "FAULT_CATEGORIES",
    "SCOPE_TYPES",
    "SUBJECT_TABLES",
    "ActionError",
    "Actor",
    "Bulk",
    "CsvRejected",
    "InvalidAction",
    "NotFound",
    "PermissionDenied",
    "Role",
    "acknowledge_alert",
    "acknowledge_alerts",
    "add_override",
    "add_task_type",
    "close_case",
    "create_window",
    "delete_firmware_policy",
    "delete_schedule",
    "edit_window",
    "end_window_early",
    "export_firmware_policies",
    "export_schedules",
    "import_firmware_policies",
    "import_inventory",
    "import_schedules",
    "load_oncall",
    "log_case_call",
    "open_window",
    "record_audit",
    "record_service",
    "remove_override",
    "reschedule_window",
    "set_case_cause",
    "set_firmware_policy",
    "set_rotation",
    "set_schedule",
    "set_suspended",
    "snooze_alert",
    "snooze_alerts",
    "update_incident",
]
