"""`ActionArbiter`: who commands the robot this cycle -- the policy, or a teleop source that took over.

Consulted once per control cycle after the policy's proposal is known (the runtime's hook, and the
env-level loops in `physai.teleop.session`). Rules:

- A connected source that asks for control (`SourceInput.engaged`) while nobody holds it takes it
  (`granted`); when several ask in the same cycle the first in the arbiter's list wins and every other
  is told (`denied`, naming the holder). A source asking while another holds control is `denied`.
- The holder's commands go out until it stops asking (`released`): control goes back to the policy.
- A holder whose device disconnects does not hand the robot back to the policy: the robot holds (zero
  motion, gripper as last commanded) and those steps are labelled `hold` until the source reconnects
  and asks again, or another source takes over. The event is logged (`lost`).
- Without a policy proposal and without a holder (plain teleoperation before anyone connects) the
  robot holds too.

Every label is one of `policy`, `human`, `hold` (`LABELS`, the dataset's `control_source` codes 0/1/2).
The command the arbiter returns still goes through the safety supervisor like the policy's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from physai.core.errors import ConfigError
from physai.teleop.sources import CommandMapper, ControlContext, MapperConfig, SourceInput, TeleopSource

LABELS = ("policy", "human", "hold")
"""Who commanded a step; a step's code in the dataset feature `control_source` is its index here."""


@dataclass(frozen=True)
class Decision:
    """The arbiter's answer for one cycle."""

    action: np.ndarray | None
    """The command to send (None: the policy had none ready and nobody holds control)."""
    label: str
    """`policy`, `human` or `hold` (see `LABELS`)."""
    source: str
    """`policy`, or the name of the source that holds (or lost) control."""
    seq: int | None = None
    """The holder's newest message sequence number (browser latency), if it reports one."""


class ActionArbiter:
    """Chooses each cycle's command among the policy's proposal and the teleop sources (see module)."""

    def __init__(
        self, sources: Sequence[TeleopSource], mapper: MapperConfig | None = None, policy: bool = True
    ) -> None:
        """`policy=False`: plain teleoperation, the robot holds while nobody is in control."""
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"teleop sources must have distinct names, got {names}")
        self.sources = list(sources)
        self.policy = policy
        self._mapper_cfg = mapper
        self.mapper: CommandMapper | None = None
        self.holder: str | None = None
        self.lost = False
        self.cycle = 0
        self.log: list[dict] = []
        self.counts: Counter[str] = Counter()
        self.pending_events: list[tuple[str, str]] = []
        self.last: Decision | None = None
        self._asking: dict[str, bool] = {}
        self._connected: dict[str, bool] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self, ctx: ControlContext) -> None:
        """Open every source for the robot described by `ctx` (refuses control modes it cannot map)."""
        self.mapper = CommandMapper(ctx, self._mapper_cfg)
        for s in self.sources:
            s.open(ctx)
            self._asking[s.name] = False
            self._connected[s.name] = True

    def start_robot(self, info: object, driver: object) -> None:
        """`start` for a connected runtime robot (`DriverInfo`); the sim driver's env, if any, is
        passed on (the scripted expert needs it)."""
        self.start(
            ControlContext(
                control=info.control,  # type: ignore[attr-defined]
                hz=float(info.hz),  # type: ignore[attr-defined]
                action_names=tuple(info.action_names),  # type: ignore[attr-defined]
                action_low=np.asarray(info.action_low, np.float32),  # type: ignore[attr-defined]
                action_high=np.asarray(info.action_high, np.float32),  # type: ignore[attr-defined]
                cameras=tuple(info.cameras),  # type: ignore[attr-defined]
                env=getattr(driver, "env", None),
            )
        )
        self.reset()

    def runtime_action(self, obs: dict, proposal: np.ndarray | None) -> tuple[np.ndarray | None, str]:
        """The runtime's hook: (action, source) with source `policy`, `human:<name>` or `hold:<name>`."""
        d = self.select(obs, proposal)
        self.last = d
        return d.action, d.label if d.label == "policy" else f"{d.label}:{d.source}"

    def reset(self) -> None:
        """A new episode: nobody holds control, counts start again (the sources stay open)."""
        self.holder, self.lost, self.cycle = None, False, 0
        self.counts = Counter()
        self._asking = dict.fromkeys(self._asking, False)
        if self.mapper is not None:
            self.mapper.grip = [0.0] * len(getattr(self.mapper, "grip", []))
        for s in self.sources:
            s.reset()

    def close(self) -> None:
        for s in self.sources:
            try:
                s.close()
            except Exception as exc:
                self._event("close_failed", s.name, str(exc))

    # ------------------------------------------------------------------ per cycle
    def _event(self, event: str, source: str, detail: str = "") -> None:
        self.log.append({"cycle": self.cycle, "event": event, "source": source, "detail": detail})

    def _tell(self, src: TeleopSource, event: str, detail: str) -> None:
        self._event(event, src.name, detail)
        try:
            src.notify(event, detail)
        except Exception as exc:
            self._event("notify_failed", src.name, str(exc))

    def _poll(self, src: TeleopSource, obs: dict, proposal: np.ndarray | None) -> SourceInput:
        try:
            return src.poll(obs, proposal)
        except Exception as exc:
            self._event("error", src.name, str(exc))
            return SourceInput(connected=False)

    def select(self, obs: dict, proposal: np.ndarray | None) -> Decision:
        """This cycle's command given the observation and the policy's proposal (None: none ready)."""
        if self.mapper is None:
            raise ConfigError("ActionArbiter.start(ctx) must be called before select()")
        inputs = {s.name: self._poll(s, obs, proposal) for s in self.sources}
        for s in self.sources:
            inp = inputs[s.name]
            self.pending_events.extend((e, s.name) for e in inp.events)
            if inp.connected != self._connected[s.name]:
                self._connected[s.name] = inp.connected
                self._event("connected" if inp.connected else "disconnected", s.name)
        by_name = {s.name: s for s in self.sources}
        holder = self.holder
        if holder is not None:
            inp = inputs[holder]
            if not inp.connected and not self.lost:
                self.lost = True
                self._tell(by_name[holder], "lost", "device disconnected while in control; the robot holds")
            elif inp.connected and not inp.engaged:
                if self.lost:  # came back without asking: still nobody in control, the robot keeps holding
                    pass
                else:
                    self.holder = None
                    self._tell(by_name[holder], "released", "control handed back")
            elif inp.connected and inp.engaged and self.lost:
                self.lost = False
                self._tell(by_name[holder], "resumed", "device reconnected; control resumed")
        # requests from everyone else (a rising edge of `engaged` is one request)
        for s in self.sources:
            inp = inputs[s.name]
            asking = inp.connected and inp.engaged
            rising = asking and not self._asking[s.name]
            self._asking[s.name] = asking
            if not asking or s.name == self.holder:
                continue
            if self.holder is None or (self.lost and rising):
                if self.holder is not None:
                    self._tell(
                        by_name[self.holder], "preempted", f"{s.name} took over after the device was lost"
                    )
                self.holder, self.lost = s.name, False
                self._tell(s, "granted", "you hold control")
            elif rising:
                self._tell(s, "denied", f"{self.holder} holds control")
        decision = self._decide(inputs, proposal)
        self.counts[decision.label] += 1
        self.cycle += 1
        return decision

    def _decide(self, inputs: dict[str, SourceInput], proposal: np.ndarray | None) -> Decision:
        m = self.mapper
        assert m is not None
        if self.holder is not None and self.lost:
            return Decision(m.hold(), "hold", self.holder)
        if self.holder is not None:
            inp = inputs[self.holder]
            return Decision(m.command(inp), "human", self.holder, inp.seq)
        if not self.policy:
            return Decision(m.hold(), "hold", "none")
        if proposal is not None:
            m.observe_action(np.asarray(proposal, np.float32))
        return Decision(proposal, "policy", "policy")  # None: late, the runtime's watchdog counts it

    def take_events(self) -> list[tuple[str, str]]:
        """Session events (`save`, `discard`, `quit`) the sources sent since the last call."""
        ev, self.pending_events = self.pending_events, []
        return ev

    def summary(self) -> dict:
        """Steps per label this episode and the control log (grants, refusals, losses)."""
        return {"steps": {k: int(self.counts.get(k, 0)) for k in LABELS}, "events": list(self.log)}
