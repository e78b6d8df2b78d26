"""The hotline as the app holds it: a thin façade over one object per call flow.

Menu (greeting, menu, flood information, fallback), RescueIntake, Queue, Voicemail,
OperatorDesk (operator dialling), CallbackTasks and CallbackCalls, StatusCallbacks and Sms share
one flow.Context. Routes call the flows directly; the façade owns what spans them: background
work, the dial trigger the flows are given, and the scheduled callback round.
"""

from __future__ import annotations

from canhbao.clock import Clock
from canhbao.config import Config
from canhbao.db import Database
from canhbao.events import EventBus
from hotline import store
from hotline.callback_calls import CallbackCalls
from hotline.callbacks import CallbackTasks
from hotline.flow import Background, Context
from hotline.intake import RescueIntake
from hotline.menu import Menu
from hotline.operators import OperatorDesk
from hotline.ports import HotlinePorts
from hotline.queue import Queue
from hotline.sms import Sms
from hotline.status import StatusCallbacks
from hotline.twiml import Twiml
from hotline.voicemail import Voicemail
from notify.ports import VoiceCaller


class Hotline:
    def __init__(
        self,
        *,
        config: Config,
        db: Database,
        clock: Clock,
        bus: EventBus,
        voice: VoiceCaller,
        ports: HotlinePorts,
    ) -> None:
        self.ports = ports
        self.background = Background()
        ctx = Context(
            config=config,
            db=db,
            clock=clock,
            bus=bus,
            twiml=Twiml(config),
            ports=ports,
            background=self.background,
            request_dial=self.request_dial,
        )
        self.db = db
        self.callbacks = CallbackTasks(ctx)
        self.operators = OperatorDesk(ctx, voice)
        self.callback_calls = CallbackCalls(ctx, self.callbacks, self.operators, voice)
        self.menu = Menu(ctx)
        self.intake = RescueIntake(ctx, self.callbacks, self.operators)
        self.queue = Queue(ctx, self.callbacks, self.operators)
        self.voicemail = Voicemail(ctx, self.callbacks)
        self.status = StatusCallbacks(ctx, self.callbacks)
        self.sms = Sms(ctx)

    def request_dial(self) -> None:
        """Ring idle operators for whoever waits, in the background."""
        self.background.spawn(self.operators.dial(), "dial operators")

    async def drain(self) -> None:
        """Wait until every background task (and what they started) has finished."""
        await self.background.drain()

    async def recover(self) -> int:
        """After a restart: settle callback attempts a previous process left half placed."""
        return await self.callback_calls.recover()

    async def run_due_callbacks(self, limit: int = 50) -> int:
        """Place every callback attempt that is due; returns how many calls were placed."""
        return await self.callback_calls.run_due(limit)

    async def start_task(self, task_id: int, actor: str) -> store.CallbackTask:
        """An operator starts a callback now (an open task, or one whose attempts ran out)."""
        await self.callbacks.reopen_now(task_id, actor)
        await self.callback_calls.attempt(task_id, manual=True)
        started = await store.get_task(self.db, task_id)
        assert started is not None  # noqa: S101  # it existed a moment ago
        return started

    async def close_task(self, task_id: int, actor: str, reason: str) -> store.CallbackTask:
        return await self.callbacks.close_task(task_id, actor, reason)
