"""The workflow's settings: the sender, the CAP defaults, expiry bounds, the two-person
statuses and the exercise a service runs, read once from the config."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from alerting.models import Profile
from canhbao.config import AlertingConfig


@dataclass(frozen=True)
class Settings:
    identifier_prefix: str
    sender: str
    sender_name: str
    contact: str
    web: str
    status: str
    default_expiry: timedelta
    max_expiry: timedelta
    two_person_statuses: frozenset[str]
    exercise: str = ""  # the exercise this service runs (issue #16); "" : none

    @classmethod
    def from_config(cls, config: AlertingConfig, public_base_url: str) -> Settings:
        return cls(
            identifier_prefix=config.identifier_prefix,
            sender=config.sender,
            sender_name=config.sender_name,
            contact=config.contact,
            web=config.web or public_base_url,
            status=config.status,
            default_expiry=timedelta(hours=config.default_expiry_h),
            max_expiry=timedelta(hours=config.max_expiry_h),
            # Actual is never exempt: a real warning always needs a second person.
            two_person_statuses=frozenset(config.two_person_statuses) | {"Actual"},
            exercise=config.exercise,
        )

    @property
    def profile(self) -> Profile:
        return Profile(max_expiry=self.max_expiry)
