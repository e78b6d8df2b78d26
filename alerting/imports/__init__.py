"""CAP import: upstream CAP feeds, documents and NWS GeoJSON alert lists, polled and kept for staff.

- `formats`: the pure parsers (a payload in, alerts out, through the safe CAP parser);
- `upstream`: one poll's HTTP requests (timed, size-capped while streaming, conditional);
- `source`: one configured upstream polled like a feed (backoff, state, outage logged once);
- `importer`: what comes in, deduplicated, with Updates and Cancels applied, and staff's view;
- `reissue`: an import as our own draft (which then needs the usual two-person approval);
- `wiring`: config checks, building the Importer and scheduling its jobs.
"""

from alerting.imports.formats import (
    ApplyReport,
    FeedContents,
    FeedLink,
    Received,
    nws_alert,
    parse_document,
    parse_feed,
    parse_nws,
    received_reference,
)
from alerting.imports.importer import AUDIT_ENTITY, Importer, import_view
from alerting.imports.reissue import VI_PLACEHOLDERS, reissue_draft
from alerting.imports.source import ImportSource, SourceState
from alerting.imports.upstream import UpstreamClient
from alerting.imports.wiring import build_importer, check_config, schedule_jobs

__all__ = [
    "AUDIT_ENTITY",
    "VI_PLACEHOLDERS",
    "ApplyReport",
    "FeedContents",
    "FeedLink",
    "ImportSource",
    "Importer",
    "Received",
    "SourceState",
    "UpstreamClient",
    "build_importer",
    "check_config",
    "import_view",
    "nws_alert",
    "parse_document",
    "parse_feed",
    "parse_nws",
    "received_reference",
    "reissue_draft",
    "schedule_jobs",
]
