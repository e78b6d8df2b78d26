"""The alerting domain's app state, as typed web.AppKeys (set by alerting.setup's context)."""

from __future__ import annotations

from aiohttp import web

from alerting.auto import AutoDrafter
from alerting.delivery import Delivery
from alerting.fanout import FanoutRunner
from alerting.imports import Importer
from alerting.ports import EvidenceSource
from alerting.workflow import Workflow

# The workflow: drafts, the two-person rule, issue, Update/Cancel, expiry.
ALERTING = web.AppKey("alerting", Workflow)

# Alerting's CAP import: upstream sources, their state, imported alerts.
ALERTING_IMPORTS = web.AppKey("alerting_imports", Importer)
# What enqueues an issued alert's recipients after its first batch (alerting.fanout).
ALERTING_FANOUT = web.AppKey("alerting_fanout", FanoutRunner)
# Delivery: targeting previews, the fan-out's messages and their outbox report.
ALERTING_DELIVERY = web.AppKey("alerting_delivery", Delivery)
# The running auto-drafter (canhbao.app subscribes it to threshold events in the durable log).
AUTO_DRAFTER = web.AppKey("alerting_auto_drafter", AutoDrafter)
# Camera stills offered and attached as a warning's evidence (filled by the composition root).
ALERTING_EVIDENCE = web.AppKey("alerting_evidence", EvidenceSource)
