"""The hotline's SQL, all of it: one module per kind of row, re-exported here.

- schema: the migrations;
- calls: the call log, recordings and answered webhook steps;
- callbacks: callback tasks and attempts;
- operators: the roster.

Rescue requests belong to the dispatch domain (hotline.ports.RescueDesk).
"""

from __future__ import annotations

from hotline.store.callbacks import (
    CallbackTask,
    attempt_rows,
    attempts_of,
    count_tasks_by_status,
    due_tasks,
    get_attempt,
    get_task,
    insert_attempt,
    insert_task,
    list_tasks,
    open_task_for,
    placing_attempts,
    raise_attempts,
    set_attempt,
    set_task,
    silent_attempts,
)
from hotline.store.calls import (
    CALL_COLUMNS,
    CallRow,
    StatusUpdate,
    append_path,
    apply_status,
    call_from_row,
    claim_step,
    count_calls_since,
    ensure_call,
    figures_rows,
    get_call,
    list_calls,
    queue_departures,
    recordings_of,
    save_recording,
    step_response,
    time_or_none,
    update_call,
    waiting_calls,
)
from hotline.store.operators import (
    deactivate_operator,
    get_operator,
    idle_operators,
    insert_operator,
    list_operators,
    mark_offered,
    operator_json,
    operator_values,
    pending_operator_legs,
    update_operator,
)
from hotline.store.schema import (
    MIGRATIONS,
)

__all__ = [
    "CALL_COLUMNS",
    "MIGRATIONS",
    "CallRow",
    "CallbackTask",
    "StatusUpdate",
    "append_path",
    "apply_status",
    "attempt_rows",
    "attempts_of",
    "call_from_row",
    "claim_step",
    "count_calls_since",
    "count_tasks_by_status",
    "deactivate_operator",
    "due_tasks",
    "ensure_call",
    "figures_rows",
    "get_attempt",
    "get_call",
    "get_operator",
    "get_task",
    "idle_operators",
    "insert_attempt",
    "insert_operator",
    "insert_task",
    "list_calls",
    "list_operators",
    "list_tasks",
    "mark_offered",
    "open_task_for",
    "operator_json",
    "operator_values",
    "pending_operator_legs",
    "placing_attempts",
    "queue_departures",
    "raise_attempts",
    "recordings_of",
    "save_recording",
    "set_attempt",
    "set_task",
    "silent_attempts",
    "step_response",
    "time_or_none",
    "update_call",
    "update_operator",
    "waiting_calls",
]
