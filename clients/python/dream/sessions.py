"""Control sessions (``client.sessions``): a robot loop's planner state kept next to the model.

A session holds the model, the goal, the planner configuration and the warm start (the last plan's
mean, shifted by the steps the robot executed), so each ``step(observation)`` sends only the new frame
and gets back the next action chunk. Each step is billed as its own plan. REST, proto3 JSON:
``POST /v1/sessions`` (CreateSessionRequest → Session), ``POST /v1/sessions/{id}/step``
(StepSessionRequest → StepSessionResponse), ``DELETE /v1/sessions/{id}`` (→ CloseSessionResponse).
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any, Optional, Union

from .errors import InputValidationError
from ._plan_request import _int, build_plan_request, frame_json
from .planning import Plan, decode_actions

if TYPE_CHECKING:
    from .client import Client
    from .models import ModelHandle

__all__ = ["Sessions", "Session", "Step", "SessionSummary"]


class Step:
    """One decision of a session: ``actions`` to execute now (execute_steps, D), the whole ``plan``,
    and ``step``, this decision's index in the session (from 0)."""

    __slots__ = ("actions", "plan", "step")

    def __init__(self, actions: Any, plan: Plan, step: int) -> None:
        self.actions = actions
        self.plan = plan
        self.step = step

    def __repr__(self) -> str:
        return f"<Step {self.step} best_cost={self.plan.best_cost:.6g} cost_usd={self.plan.cost_usd}>"


class SessionSummary:
    """What ``Session.close()`` answers: the decisions taken and what they cost in all."""

    __slots__ = ("steps", "cost_micros", "cost_usd")

    def __init__(self, steps: int, cost_micros: int, cost_usd: float) -> None:
        self.steps = steps
        self.cost_micros = cost_micros
        self.cost_usd = cost_usd

    def __repr__(self) -> str:
        return f"<SessionSummary steps={self.steps} cost_usd={self.cost_usd}>"


class Session:
    """An open control session. Use as a context manager to close it on exit."""

    def __init__(self, client: "Client", model: "ModelHandle", info: dict) -> None:
        self._client = client
        self.model = model
        self.session_id: str = str(info.get("session_id", ""))
        self.ttl_s = int(info.get("ttl_s", 0) or 0)
        self.execute_steps = int(info.get("execute_steps", 0) or 0)
        self.steps = int(info.get("steps", 0) or 0)
        self.closed: Optional[SessionSummary] = None
        if not self.session_id:
            raise InputValidationError("POST /v1/sessions answered without a session_id")

    @property
    def _path(self) -> str:
        return f"/v1/sessions/{urllib.parse.quote(self.session_id, safe='')}"

    def step(self, observation: Any, goal: Any = None, executed_steps: Optional[int] = None,
             request_id: Optional[str] = None) -> Step:
        """Plan from ``observation`` (the current camera frame) → the next action chunk.

        ``goal`` replaces the session's goal from this step on; ``executed_steps`` says how many steps
        ran since the last decision (default: the session's execute_steps), which shifts the warm start.
        """
        if self.closed is not None:
            raise InputValidationError(f"session {self.session_id} is closed")
        body: dict = {"observation": frame_json(observation, self.model.resolution, "observation")}
        if goal is not None:
            body["goal"] = frame_json(goal, self.model.resolution, "goal")
        if executed_steps is not None:
            body["executed_steps"] = _int("executed_steps", executed_steps, 0)
        if request_id is not None and (not isinstance(request_id, str) or not request_id):
            raise InputValidationError(f"request_id: expected a non-empty string, got {request_id!r}")
        # The request id makes a retried step safe: the server never runs or bills one id twice.
        body["request_id"] = request_id or str(uuid.uuid4())
        started = time.monotonic()
        resp = self._client._transport.request("POST", self._path + "/step", body=json.dumps(body).encode(),
                                               content_type="application/json")
        data = resp.json()
        plan = Plan(data.get("plan") or {}, bytes_received=len(resp.body), wall_s=time.monotonic() - started)
        step = Step(decode_actions(data.get("actions")), plan, int(data.get("step", 0) or 0))
        self.steps = step.step + 1
        return step

    def close(self) -> SessionSummary:
        """Close the session → the steps taken and what they cost. Closing twice answers the first result."""
        if self.closed is None:
            data = self._client._transport.request("DELETE", self._path).json()
            cost = data.get("cost") or {}
            micros = int(cost.get("micros", 0) or 0)
            usd = float(cost["usd"]) if cost.get("usd") else micros / 1e6
            self.closed = SessionSummary(int(data.get("steps", 0) or 0), micros, usd)
        return self.closed

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Session {self.session_id} model={self.model.slug} steps={self.steps}>"


class Sessions:
    def __init__(self, client: "Client") -> None:
        self._client = client

    def create(self, model: Union[str, "ModelHandle"], goal: Any, planner: str = "cem", *, ttl_s: int = 0,
               execute_steps: int = 0, **options: Any) -> Session:
        """Open a session: ``goal`` and the planner (``cem`` or ``mppi``) with model.plan()'s keywords
        (samples, iterations, elites, action_steps, mask, …); ``ttl_s`` idle seconds before the server
        closes it (0: its default); ``execute_steps`` per decision (0: the model's chunk size)."""
        handle = self._client.models.get(model) if isinstance(model, str) else model
        if planner == "rank":
            raise InputValidationError("planner: a session samples its own candidates: cem or mppi, not rank")
        ttl_s = _int("ttl_s", ttl_s, 0)
        execute_steps = _int("execute_steps", execute_steps, 0)
        if options.get("request_id") is not None:
            raise InputValidationError("request_id: give each step its own (Session.step(request_id=…))")
        plan = build_plan_request(handle, None, goal, planner, need_start=False, **options)
        steps = plan.get("action_steps", 0)
        if execute_steps and steps and execute_steps > steps:
            raise InputValidationError(f"execute_steps: expected 0..{steps} (the planning horizon), got {execute_steps}")
        handle._ensure_active()
        body = {"plan": plan, "ttl_s": ttl_s, "execute_steps": execute_steps}
        # Not retried: creating has no idempotency key, and a lost reply would leave an orphan session
        # counting against the key's bound until its TTL.
        info = self._client._transport.request("POST", "/v1/sessions", body=json.dumps(body).encode(),
                                               content_type="application/json", retry=False).json()
        return Session(self._client, handle, info if isinstance(info, dict) else {})
