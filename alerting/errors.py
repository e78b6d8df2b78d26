"""Alerting errors.

AlertingError
├── InvalidAlert            the alert breaks CAP 1.2 or our profile; `problems` lists each rule
│   ├── TemplateIncomplete  a template placeholder is still unfilled
│   └── InvalidArea         the area cannot be targeted (no place, an unknown ward, no ground)
│       └── UnknownWards    ward codes the area catalogue does not know (`codes`)
├── AlertNotFound           no alert with that identifier
├── TransitionRefused       the workflow does not allow this step from the alert's state
│   ├── SelfApprovalRefused the two-person rule: the author cannot approve their own alert
│   ├── StaleVersion        the alert changed since the version the person saw (`current`)
│   └── ReissueRefused      an imported alert cannot be re-issued (already, cancelled, expired)
├── CapDocumentRefused      an imported CAP document is unsafe, too large, or not CAP 1.2
│   └── FeedRefused         an import feed or alert list is unsafe, too large, or not its format
├── UpstreamUnavailable     an import source did not answer usably (HTTP error, timeout, cut short)
├── ImportNotFound          no imported alert with that id
├── AudienceRefused         a test audience member that cannot be enrolled; `problems` says why
└── AudienceMemberNotFound  no test audience member with that id
"""

from __future__ import annotations

from collections.abc import Sequence


class AlertingError(Exception):
    """Base of every exception the alerting domain raises on purpose."""


class InvalidAlert(AlertingError):
    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class TemplateIncomplete(InvalidAlert):
    """Placeholders ({name}) left in a citizen-facing text; listed in `problems`."""


class InvalidArea(InvalidAlert):
    """The area reaches no one we can target; `problems` says why (checked again at issue,
    since the ward catalogue may have changed since submission)."""


class UnknownWards(InvalidArea):
    def __init__(self, codes: Sequence[str]) -> None:
        super().__init__([f"area: ward codes not in our area catalogue: {', '.join(codes)}"])
        self.codes = tuple(codes)


class AlertNotFound(AlertingError):
    pass


class TransitionRefused(AlertingError):
    pass


class SelfApprovalRefused(TransitionRefused):
    pass


class StaleVersion(TransitionRefused):
    """The alert changed since the version the person acted on; `current` is its version now."""

    def __init__(self, identifier: str, seen: int, current: int) -> None:
        super().__init__(f"{identifier} changed since version {seen} (now {current})")
        self.current = current


class CapDocumentRefused(AlertingError):
    pass


class ReissueRefused(TransitionRefused):
    pass


class FeedRefused(CapDocumentRefused):
    pass


class UpstreamUnavailable(AlertingError):
    pass


class ImportNotFound(AlertingError):
    pass


class AudienceRefused(AlertingError):
    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class AudienceMemberNotFound(AlertingError):
    pass
