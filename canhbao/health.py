"""What each background component last said about itself, for /healthz and /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Status = Literal["ok", "degraded", "failing", "stopped"]


@dataclass
class ComponentState:
    """What one background component last reported about itself."""

    status: Status = "ok"
    detail: str = ""
    since: datetime | None = None
    # A failing component that is not critical (one feed among many) degrades, not fails, health.
    critical: bool = True


@dataclass
class HealthRegistry:
    components: dict[str, ComponentState] = field(default_factory=dict)

    def report(
        self,
        name: str,
        status: Status,
        detail: str = "",
        *,
        at: datetime | None = None,
        critical: bool = True,
    ) -> None:
        previous = self.components.get(name)
        since = previous.since if previous is not None and previous.status == status else at
        self.components[name] = ComponentState(status, detail, since, critical)

    def unhealthy(self) -> list[str]:
        return [
            name
            for name, state in self.components.items()
            if state.critical and state.status in ("failing", "stopped")
        ]
