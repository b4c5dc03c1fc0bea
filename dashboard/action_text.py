"""What an operator action is called, in one table: each audited action by its stored id
(``audit_log.action``: collector.actions, dashboard.auth, the collector's auto-enrolment,
posfleet-notify), for the Audit log page and a case's audit trail, and the console's action
functions by the audited action they record, for the confirmation after one ("suspend: done,
recorded in the audit log."). So a step is called the same on both. Pure: no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping

from dashboard.i18n import N_

ACTION_NAMES = {
    "alert.acknowledge": N_("acknowledge alert"), "alert.snooze": N_("snooze alerts"),
    "suspend": N_("suspend"), "unsuspend": N_("unsuspend"),
    "service.record": N_("record service"), "incident.update": N_("update incident"),
    "window.create": N_("create window"), "window.edit": N_("edit window"),
    "window.end_early": N_("end window early"), "inventory.import": N_("import inventory"),
    "oncall.rotation": N_("set rotation"), "oncall.override": N_("add override"),
    "oncall.override_removed": N_("remove override"),
    "firmware_policy.set": N_("set firmware policy"),
    "firmware_policy.delete": N_("delete firmware policy"),
    "firmware_policy.import": N_("import firmware policies"),
    "schedule.set": N_("set maintenance schedule"),
    "schedule.delete": N_("delete maintenance schedule"),
    "schedule.import": N_("import maintenance schedules"), "task_type.add": N_("add task type"),
    "case.call": N_("log a call"), "case.cause": N_("set the cause of a case"),
    "case.close": N_("close a case"),
    "settlement.import": N_("import a settlement file"), "login": N_("Log in"),
    "logout": N_("Log out"), "login.failed": N_("failed login"),
    "user.set": N_("set a user's role and password"), "user.remove": N_("remove a user"),
    "enrolment.auto": N_("added to the inventory automatically"),
    "notify.delivered": N_("notification delivered"),
    "notify.failed": N_("notification not delivered"),
}  # fmt: skip

# The console's action functions (collector.actions) -> the audited action each records.
FUNCTION_ACTIONS = {
    "acknowledge_alert": "alert.acknowledge", "snooze_alert": "alert.snooze",
    "snooze_alerts": "alert.snooze",
    "record_service": "service.record", "update_incident": "incident.update",
    "create_window": "window.create", "edit_window": "window.edit",
    "end_window_early": "window.end_early", "import_inventory": "inventory.import",
    "set_rotation": "oncall.rotation", "add_override": "oncall.override",
    "remove_override": "oncall.override_removed",
    "set_firmware_policy": "firmware_policy.set",
    "delete_firmware_policy": "firmware_policy.delete",
    "import_firmware_policies": "firmware_policy.import",
    "set_schedule": "schedule.set", "delete_schedule": "schedule.delete",
    "import_schedules": "schedule.import", "add_task_type": "task_type.add",
    "log_case_call": "case.call", "set_case_cause": "case.cause", "close_case": "case.close",
}  # fmt: skip

# Console actions that record several audited steps: one per alert picked, or a window
# edited in place or replaced by a new one (``reschedule_window``). Named for what the
# operator did.
SEVERAL_STEPS = {
    "acknowledge_alerts": N_("acknowledge alerts"),
    "reschedule_window": N_("reschedule window"),
}


def done_name(function: str, arguments: Mapping[str, object]) -> str:
    """The message id naming what the action ``function`` called with ``arguments`` did:
    ``set_suspended`` is a suspend or an unsuspend, as its audit row says."""
    if function == "set_suspended":
        return ACTION_NAMES["suspend" if arguments.get("suspended") else "unsuspend"]
    if function in SEVERAL_STEPS:
        return SEVERAL_STEPS[function]
    audited = FUNCTION_ACTIONS.get(function)
    return ACTION_NAMES[audited] if audited else function.replace("_", " ")
