"""The team registry's operations, each audited in its own transaction: create, change, duty,
roster import, the team app's bearer token, its position and push token reports."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

import aiosqlite

from canhbao.audit import record_audit
from canhbao.auth.store import Accounts
from canhbao.clock import Clock
from canhbao.config import AuthConfig
from canhbao.db import Database
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.store import teams as store
from dispatch.teams import Team, TeamDraft, check_point, check_push_token
from dispatch.teams_import import Roster

log = logging.getLogger(__name__)

# A position reported from further ahead than this is refused (a phone's clock gone wrong).
POSITION_FUTURE_SLACK = timedelta(minutes=2)


@dataclasses.dataclass(frozen=True)
class ImportResult:
    created: tuple[str, ...]
    updated: tuple[str, ...]


class Teams:
    def __init__(self, db: Database, clock: Clock, auth: AuthConfig) -> None:
        self.db = db
        self.clock = clock
        self.auth = auth

    async def list(self) -> list[Team]:
        return await store.list_teams(self.db)

    async def get(self, team_id: int) -> Team:
        team = await store.get_team(self.db, team_id)
        if team is None:
            raise NotFound(f"no team {team_id}")
        return team

    async def create(self, draft: TeamDraft, *, actor: str) -> Team:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            if await store.team_by_name(conn, draft.name) is not None:
                raise Conflict(f"a team named {draft.name!r} exists already")
            team_id = await store.insert_team(conn, draft, now)
            team = await store.get_team(conn, team_id)
            assert team is not None  # noqa: S101  # just written
            await _audit(conn, now, actor, "team.create", team_id, None, team)
        log.info("team created", extra={"team_id": team_id, "actor": actor})
        return team

    async def replace(self, team_id: int, draft: TeamDraft, *, actor: str) -> Team:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            before = await store.get_team(conn, team_id)
            if before is None:
                raise NotFound(f"no team {team_id}")
            same_name = await store.team_by_name(conn, draft.name)
            if same_name is not None and same_name.id != team_id:
                raise Conflict(f"a team named {draft.name!r} exists already")
            await store.replace_team(conn, team_id, draft, now)
            after = await store.get_team(conn, team_id)
            assert after is not None  # noqa: S101  # just written
            await _audit(conn, now, actor, "team.update", team_id, before, after)
        return after

    async def set_duty(self, team_id: int, on_duty: bool, *, actor: str) -> Team:
        team = await self.get(team_id)
        draft = _draft_of(team)
        return await self.replace(team_id, dataclasses.replace(draft, on_duty=on_duty), actor=actor)

    async def import_roster(self, roster: Roster, *, actor: str) -> ImportResult:
        """Every team of the file in one transaction: new names created, known names replaced
        (teams not in the file are left as they are)."""
        now = self.clock.now()
        created: list[str] = []
        updated: list[str] = []
        async with self.db.transaction() as conn:
            for draft in roster.teams:
                before = await store.team_by_name(conn, draft.name)
                if before is None:
                    team_id = await store.insert_team(conn, draft, now)
                    created.append(draft.name)
                else:
                    team_id = before.id
                    await store.replace_team(conn, team_id, draft, now)
                    updated.append(draft.name)
                after = await store.get_team(conn, team_id)
                assert after is not None  # noqa: S101  # just written
                action = "team.import_create" if before is None else "team.import_update"
                await _audit(conn, now, actor, action, team_id, before, after)
        log.info(
            "team roster imported",
            extra={"created": len(created), "updated": len(updated), "actor": actor},
        )
        return ImportResult(tuple(created), tuple(updated))

    async def issue_token(self, team_id: int, *, actor: str) -> tuple[Team, str]:
        """A bearer token with the role `team` for the team's app (the secret is shown once);
        a token issued before is revoked."""
        team = await self.get(team_id)
        accounts = Accounts(self.db, self.clock, self.auth)
        if team.token_id is not None:
            await accounts.revoke_token(team.token_id, actor=actor)
        token, secret = await accounts.create_token(
            f"team {team.id}: {team.name}"[:200], ["team"], actor=actor
        )
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await store.set_token(conn, team_id, token.id, now)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="team.token",
                entity="team",
                entity_id=str(team_id),
                before={"token_id": team.token_id},
                after={"token_id": token.id},
            )
        return await self.get(team_id), secret

    async def team_for_token(self, token_id: int) -> Team:
        team = await store.team_for_token(self.db, token_id)
        if team is None:
            raise NotFound("this token belongs to no team (issue one with POST /teams/{id}/token)")
        return team

    async def report_position(
        self, team: Team, lat: float, lon: float, seen_at: datetime | None
    ) -> Team:
        """The team app's position (not audited: it is telemetry, many an hour)."""
        check_point(lat, lon, "position")
        now = self.clock.now()
        at = now if seen_at is None else seen_at
        if at > now + POSITION_FUTURE_SLACK:
            raise InvalidInput("at: in the future (check the phone's clock)", field="at")
        async with self.db.transaction() as conn:
            await store.set_position(conn, team.id, lat, lon, at)
        return await self.get(team.id)

    async def set_push_token(self, team: Team, token: str | None, *, actor: str) -> Team:
        checked = check_push_token(token)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await store.set_push_token(conn, team.id, checked, now)
            await record_audit(
                conn,
                at=now,
                actor=actor,
                action="team.push_token",
                entity="team",
                entity_id=str(team.id),
                before={"push_token_set": team.push_token is not None},
                after={"push_token_set": checked is not None},
            )
        return await self.get(team.id)


def _draft_of(team: Team) -> TeamDraft:
    return TeamDraft(
        name=team.name,
        base_lat=team.base_lat,
        base_lon=team.base_lon,
        capabilities=team.capabilities,
        capacity=team.capacity,
        coverage=team.coverage,
        on_duty=team.on_duty,
        members=team.members,
        push_token=team.push_token,
    )


async def _audit(
    conn: aiosqlite.Connection,
    at: datetime,
    actor: str,
    action: str,
    team_id: int,
    before: Team | None,
    after: Team,
) -> None:
    await record_audit(
        conn,
        at=at,
        actor=actor,
        action=action,
        entity="team",
        entity_id=str(team_id),
        before=None if before is None else before.to_json(),
        after=after.to_json(),
    )
