"""The Python SDK's planning (model.plan / rank / stream_plan) and control sessions against a real
Dream Engine, on the tiny reference model. Run by test/e2e/sdk-plan.test.ts with DREAM_BASE_URL /
DREAM_API_KEY set: ``sdk_plan_e2e.py plan`` (plan, rank, stream_plan, validation) or ``sdk_plan_e2e.py
sessions`` (create / step / step / close).

The goal is the frame a hidden held action sequence reaches (computed here with model.stream's raw
frames, so it is exact). Prints one JSON line of observed facts last; exits non-zero on a failed check.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

import numpy as np  # noqa: E402

import dream  # noqa: E402
from sdk_e2e_support import check, expect, test_frame  # noqa: E402

TINY = "dream-reference-tiny"
H, W, D, T = 48, 64, 384, 12
MASK = (0, 29)  # GR-1's slot of the unified action vector
facts: dict = {}


def held(seed: int, scale: float, steps: int = T) -> np.ndarray:
    """A piecewise-constant sequence in the mask, zeros elsewhere."""
    a = np.zeros((steps, D), np.float32)
    a[:, MASK[0]:MASK[1]] = scale * np.random.default_rng(seed).standard_normal(MASK[1] - MASK[0])
    return a


def last_frame(model, start: np.ndarray, actions: np.ndarray, seed: int) -> np.ndarray:
    """The model's exact last frame (RAW_RGB8 over stream_predict), as the world after `actions`."""
    raw = None
    for chunk in model.stream(start_frame=start, actions=actions, num_steps=1, seed=seed):
        raw = chunk.candidates[0].frames[-1]
    return np.frombuffer(raw, np.uint8).reshape(H, W, 3)


def setup():
    client = dream.Client()
    model = client.models.get(TINY)
    check(model.resolution == (H, W) and model.action_dim == D, repr(model))
    start = test_frame(H, W)
    hidden = held(7, 0.8)
    goal = last_frame(model, start, hidden, seed=3)
    return client, model, start, hidden, goal, dict(num_steps=1, seed=3)


def planning() -> None:
    client, model, start, hidden, goal, common = setup()

    # --- rank: the hidden sequence first among K = 8 decoys ---
    rng = np.random.default_rng(100)
    decoys = [hidden + np.pad(0.6 * rng.standard_normal((T, MASK[1])), ((0, 0), (0, D - MASK[1]))).astype(np.float32)
              for _ in range(7)]
    candidates = np.stack(decoys[:3] + [hidden] + decoys[3:])
    ranked = model.rank(start, goal, candidates, **common)
    check(ranked.ranking[0] == 3, f"rank: ranking {ranked.ranking}, costs {ranked.candidate_costs}")
    check(ranked.best_cost == 0.0, f"rank: the hidden sequence reproduces the goal exactly, got {ranked.best_cost}")
    check(len(ranked.candidate_costs) == 8 and all(c > 0 for i, c in enumerate(ranked.candidate_costs) if i != 3),
          f"rank: costs {ranked.candidate_costs}")
    check(isinstance(ranked.best_actions, np.ndarray) and ranked.best_actions.dtype == np.float32
          and ranked.best_actions.shape == (T, D) and np.array_equal(ranked.best_actions, hidden), "rank: best_actions")
    check(ranked.stopped == "COMPLETED" and ranked.rollouts == [], f"rank: stopped {ranked.stopped}")
    check(0 < ranked.bytes_received < 64 * 1024, f"rank: a decision is kilobytes, got {ranked.bytes_received} B")
    facts["rank"] = {"best": ranked.ranking[0], "frames": ranked.frames, "cost_micros": ranked.cost_micros,
                     "cost_usd": ranked.cost_usd, "request_id": ranked.request_id}

    # The same hidden sequence as one candidate, best rollout asked for in raw frames.
    zero = model.rank(start, goal, [np.zeros((T, D), np.float32), hidden], best_rollout=True,
                      rollout_encoding="RAW_RGB8", **common)
    zero_cost = zero.candidate_costs[0]
    check(zero_cost > 0 and zero.ranking == [1, 0], f"zero-action cost {zero_cost}, ranking {zero.ranking}")
    frames = zero.rollouts[0].array()
    check(zero.rollouts[0].candidate_index == 1 and frames.shape == (T + 1, H, W, 3) and np.array_equal(frames[-1], goal),
          "best rollout: the hidden sequence's frames, ending at the goal")

    # --- CEM on the GR-1 mask reduces the goal cost ---
    cem = model.plan(start, goal, "cem", samples=32, iterations=6, elites=6, momentum=0.1, std_min=0.02, action_steps=T,
                     mask=[MASK], init_std=0.8, hold_steps=T, **common)
    check(cem.iterations_completed == 6 and len(cem.iterations) == 6, f"cem: {cem.iterations_completed} iterations")
    check(cem.best_cost < 0.25 * zero_cost, f"cem: best {cem.best_cost} vs zero-action {zero_cost}")
    check(bool(np.all(cem.best_actions[:, MASK[1]:] == 0)), "cem: unmasked dims stay at the nominal (zero) sequence")
    check(cem.frames == 6 * 32 * (T + 1) and cem.cost_micros == cem.frames * 500, f"cem: frames {cem.frames}")
    facts["cem"] = {"best_cost": cem.best_cost, "zero_cost": zero_cost, "iterations": cem.iterations_completed,
                    "frames": cem.frames, "stopped": cem.stopped}

    # --- stream_plan: iteration events, then the plan ---
    events = list(model.stream_plan(start, goal, "mppi", samples=8, iterations=3, lam=0.002, action_steps=T,
                                    mask=[MASK], init_std=0.8, hold_steps=T, **common))
    kinds = ["iteration" if isinstance(e, dream.IterationStats) else "plan" if isinstance(e, dream.Plan) else type(e).__name__
             for e in events]
    check(kinds == ["iteration"] * 3 + ["plan"], f"stream_plan events: {kinds}")
    check([e.iteration for e in events[:3]] == [0, 1, 2], f"iteration indices {[e.iteration for e in events[:3]]}")
    check(events[-1].iterations == events[:3], "the plan's per-iteration stats are the streamed ones")
    facts["stream"] = {"events": kinds, "frames": events[-1].frames}

    # --- client-side validation raises before any request ---
    before = client.billing.balance().balance_micros
    bad = [
        lambda: model.plan(start, goal, "beam", action_steps=T),
        lambda: model.rank(start, goal, np.zeros((2, T, 100), np.float32)),
        lambda: model.rank(start, goal, np.zeros((600, 1, D), np.float32)),
        lambda: model.plan(start, goal, "cem", action_steps=T, mask=[(0, 999)]),
        lambda: model.plan(start, np.zeros((10, 10, 3), np.uint8), "cem", action_steps=T),
        lambda: model.plan(start, goal, "cem"),  # no horizon
        lambda: model.plan(start, goal, "mppi", action_steps=T, elites=3),
    ]
    messages = [str(expect(dream.InputValidationError, fn).message) for fn in bad]
    check(messages[0].startswith("planner:") and messages[3].startswith("mask[0]:") and messages[4].startswith("goal:"),
          f"validation messages: {messages}")
    check(client.billing.balance().balance_micros == before, "client-side validation charged nothing")
    facts["client_validation"] = len(messages)

    # --- a server INVALID_ARGUMENT maps to ValidationError with the field ---
    err = expect(dream.ValidationError, model.plan, start, goal, "cem", samples=8, iterations=2, elites=9, action_steps=T, **common)
    check(not isinstance(err, dream.InputValidationError), "elites > samples is the server's check")
    check(err.status_code == 400 and err.reason == "INVALID_ARGUMENT" and err.field == "cem.elites", f"{err!r} field={err.field}")
    facts["server_validation"] = {"field": err.field, "status": err.status_code, "reason": err.reason}

    facts["balance_micros"] = client.billing.balance().balance_micros

def sessions() -> None:
    client, model, start, _, goal, common = setup()
    with client.sessions.create(model, goal, "cem", samples=16, iterations=3, elites=4, action_steps=2 * T, mask=[MASK],
                                init_std=0.8, hold_steps=T, execute_steps=T, ttl_s=60, **common) as session:
        check(session.session_id != "" and session.execute_steps == T, repr(session))
        first = session.step(start)
        check(first.step == 0 and first.actions.shape == (T, D) and first.plan.best_actions.shape == (2 * T, D),
              f"step 0: {first!r} actions {getattr(first.actions, 'shape', None)}")
        check(np.array_equal(first.actions, first.plan.best_actions[:T]), "the executed chunk is the plan's first T steps")
        check(first.plan.iterations_completed == 3 and first.plan.cost_micros > 0, f"step 0 plan: {first.plan!r}")
        observation = last_frame(model, start, first.actions, seed=3)
        second = session.step(observation)
        check(second.step == 1 and second.plan.request_id != first.plan.request_id, f"step 1: {second!r}")
    closed = session.closed
    check(closed is not None and closed.steps == 2, f"close: {closed!r}")
    check(closed.cost_micros == first.plan.cost_micros + second.plan.cost_micros,
          f"close: {closed.cost_micros} vs steps {first.plan.cost_micros} + {second.plan.cost_micros}")
    # The server forgot it: a step on the closed id (bypassing the local closed flag) is NOT_FOUND.
    gone = expect(dream.DreamError, dream.Session(client, model, {"session_id": session.session_id}).step, start)
    # The template is validated like a plan, its fields named under plan.
    bad = expect(dream.ValidationError, client.sessions.create, model, goal, "cem", samples=8, elites=9, action_steps=T)
    check(not isinstance(bad, dream.InputValidationError), "elites > samples is the server's check")
    facts["sessions"] = {"steps": closed.steps, "cost_micros": closed.cost_micros,
                         "step_costs": [first.plan.cost_micros, second.plan.cost_micros],
                         "best_costs": [first.plan.best_cost, second.plan.best_cost],
                         "after_close": [gone.status_code, gone.reason], "bad_template_field": bad.field}


if __name__ == "__main__":
    {"plan": planning, "sessions": sessions}[sys.argv[1]]()
    print(json.dumps(facts))
