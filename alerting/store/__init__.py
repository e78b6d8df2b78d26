"""The alerting domain's SQL, all of it: one module per concern, re-exported here.

- schema: the tables (migrations)
- alerts: alerts and their workflow state, wards, auto-draft dedupe, fan-out progress
- imports: CAP messages read from upstream systems
- audience: the test audience of Test and Exercise alerts
"""

from __future__ import annotations

from alerting.store.alerts import (
    STATES as STATES,
)
from alerting.store.alerts import (
    UNISSUED as UNISSUED,
)
from alerting.store.alerts import (
    Fanout as Fanout,
)
from alerting.store.alerts import (
    Origin as Origin,
)
from alerting.store.alerts import (
    State as State,
)
from alerting.store.alerts import (
    StoredAlert as StoredAlert,
)
from alerting.store.alerts import (
    advance_fanout as advance_fanout,
)
from alerting.store.alerts import (
    alert_version as alert_version,
)
from alerting.store.alerts import (
    chain_start as chain_start,
)
from alerting.store.alerts import (
    claim_event as claim_event,
)
from alerting.store.alerts import (
    due_for_expiry as due_for_expiry,
)
from alerting.store.alerts import (
    fanout_backlog as fanout_backlog,
)
from alerting.store.alerts import (
    fanout_progress as fanout_progress,
)
from alerting.store.alerts import (
    feed_updated as feed_updated,
)
from alerting.store.alerts import (
    get_alert as get_alert,
)
from alerting.store.alerts import (
    get_fanout as get_fanout,
)
from alerting.store.alerts import (
    insert_alert as insert_alert,
)
from alerting.store.alerts import (
    insert_fanout as insert_fanout,
)
from alerting.store.alerts import (
    issued as issued,
)
from alerting.store.alerts import (
    issued_in_ward as issued_in_ward,
)
from alerting.store.alerts import (
    list_alerts as list_alerts,
)
from alerting.store.alerts import (
    live_for_hazard as live_for_hazard,
)
from alerting.store.alerts import (
    next_sequence as next_sequence,
)
from alerting.store.alerts import (
    note_event_draft as note_event_draft,
)
from alerting.store.alerts import (
    pending_fanouts as pending_fanouts,
)
from alerting.store.alerts import (
    pending_in_chain as pending_in_chain,
)
from alerting.store.alerts import (
    public_version as public_version,
)
from alerting.store.alerts import (
    published as published,
)
from alerting.store.alerts import (
    set_wards as set_wards,
)
from alerting.store.alerts import (
    stop_fanout as stop_fanout,
)
from alerting.store.alerts import (
    update_alert as update_alert,
)
from alerting.store.audience import (
    TestMember as TestMember,
)
from alerting.store.audience import (
    add_test_member as add_test_member,
)
from alerting.store.audience import (
    get_test_member as get_test_member,
)
from alerting.store.audience import (
    remove_test_member as remove_test_member,
)
from alerting.store.audience import (
    test_audience as test_audience,
)
from alerting.store.imports import (
    IMPORT_STATES as IMPORT_STATES,
)
from alerting.store.imports import (
    ImportState as ImportState,
)
from alerting.store.imports import (
    StoredImport as StoredImport,
)
from alerting.store.imports import (
    expire_imports as expire_imports,
)
from alerting.store.imports import (
    get_import as get_import,
)
from alerting.store.imports import (
    import_by_key as import_by_key,
)
from alerting.store.imports import (
    insert_import as insert_import,
)
from alerting.store.imports import (
    later_mentions as later_mentions,
)
from alerting.store.imports import (
    list_imports as list_imports,
)
from alerting.store.imports import (
    set_import_reissued as set_import_reissued,
)
from alerting.store.imports import (
    set_import_state as set_import_state,
)
from alerting.store.schema import (
    MIGRATIONS as MIGRATIONS,
)
