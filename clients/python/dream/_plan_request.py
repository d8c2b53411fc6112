"""The ``PlanRequest`` JSON of ``model.plan`` / ``rank`` / ``stream_plan`` and ``client.sessions``.

Requests are the proto3 JSON form of ``dream.v1.PlanRequest`` (snake_case names, bytes base64, enums by
name) posted to ``/v1/models/{slug}/plan`` and ``/stream_plan``. Everything that is obviously wrong (a
planner name, a shape, K, a mask outside the action vector, a type) is raised here as
``InputValidationError`` before any request; relations between values the server owns (``elites <=
samples``, ``keep_min <= samples``, worst-case frame caps) are left to it and come back as
``ValidationError`` with ``field`` set (``"cem.elites"``).
"""

from __future__ import annotations

import base64
import math
import uuid
from typing import Any, Dict, List, Optional, Tuple

from . import _inputs
from .errors import InputValidationError

PLANNERS = ("cem", "mppi", "rank")
AGGREGATIONS = {"final": "FINAL", "mean": "MEAN", "discounted": "DISCOUNTED"}
ROLLOUT_ENCODINGS = ("JPEG", "PNG", "RAW_RGB8")
# Mirrors of src/core/limits.ts (planSamplesMax, planIterationsMax, actionStepsMax): a K or T past them
# is refused here with the same bound instead of after the upload.
SAMPLES_MAX = 512
ITERATIONS_MAX = 64
ACTION_STEPS_MAX = 240

# Defaults for the sampling planners when the caller leaves them out (the server has none).
CEM_DEFAULTS = {"samples": 32, "iterations": 4, "momentum": 0.1, "std_min": 0.02}
MPPI_DEFAULTS = {"samples": 32, "iterations": 4, "lam": 1.0}


def _renamed(exc: InputValidationError, field: str) -> InputValidationError:
    # _inputs words its errors for predict's start_frame / actions; here they name the plan's field.
    message = str(exc.message)
    for old, new in (("start_frame:", f"{field}:"), ("actions:", f"{field}:"), ("actions[", f"{field}[")):
        if message.startswith(old):
            message = new + message[len(old):]
            break
    return InputValidationError(message)


def frame_json(value: Any, resolution: Tuple[int, int], field: str) -> Dict[str, Any]:
    """A frame (array, PIL image, PNG/JPEG bytes, path) → the ``Frame`` JSON, checked at the model's size."""
    if value is None:
        raise InputValidationError(f"{field} is required")
    try:
        data, _, ctype = _inputs.frame_to_wire(("obj", value), resolution)
    except InputValidationError as exc:
        raise _renamed(exc, field) from None
    return {"encoding": "JPEG" if ctype == "image/jpeg" else "PNG", "data": base64.b64encode(data).decode()}


def _payload(npy: bytes) -> bytes:
    return _inputs._npy_payload_f32(npy)


def actions_json(value: Any, action_dim: int, field: str) -> Tuple[Dict[str, Any], int]:
    """One (T, D) sequence → (the ``Actions`` JSON, T)."""
    try:
        npy, shape = _inputs.actions_to_wire(("obj", value), action_dim, False)
    except InputValidationError as exc:
        raise _renamed(exc, field) from None
    return {"data": base64.b64encode(_payload(npy)).decode(), "shape": [shape[0], shape[1]]}, shape[0]


def candidates_json(value: Any, action_dim: int) -> Tuple[List[Dict[str, Any]], int]:
    """(K, T, D) candidates (an array or a list of K (T, D)) → (K ``Actions``, T)."""
    if value is None:
        raise InputValidationError("candidates: the rank planner needs candidates, (K, T, %d)" % action_dim)
    try:
        npy, shape = _inputs.actions_to_wire(("obj", value), action_dim, True)
    except InputValidationError as exc:
        raise _renamed(exc, "candidates") from None
    k, t, d = shape
    if k > SAMPLES_MAX:
        raise InputValidationError(f"candidates: expected 1..{SAMPLES_MAX} action sequences, got {k}")
    payload = _payload(npy)
    per = t * d * 4
    return [{"data": base64.b64encode(payload[i * per:(i + 1) * per]).decode(), "shape": [t, d]} for i in range(k)], t


def _int(name: str, value: Any, lo: int, hi: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise InputValidationError(f"{name}: expected an integer {span}, got {value!r}")
    return value


def _num(name: str, value: Any, lo: Optional[float] = None, hi: Optional[float] = None, *, lo_open: bool = False,
         hi_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        span = f" in {left}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{right}"
        raise InputValidationError(f"{name}: expected a finite number{span}, got {value!r}")
    return float(value)


def _mask(mask: Any, action_dim: int) -> List[Dict[str, int]]:
    if mask is None:
        return []
    if isinstance(mask, tuple) and len(mask) == 2 and all(isinstance(v, int) for v in mask):
        mask = [mask]  # one (start, end) range
    out = []
    for i, r in enumerate(mask):
        try:
            start, end = r
        except (TypeError, ValueError):
            raise InputValidationError(f"mask[{i}]: expected a (start, end) pair, got {r!r}") from None
        if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int) \
                or not 0 <= start < end <= action_dim:
            raise InputValidationError(f"mask[{i}]: expected 0 <= start < end <= {action_dim} (the action dims), got {r!r}")
        out.append({"start": start, "end": end})
    return out


def _bounds(name: str, values: Any, action_dim: int) -> List[float]:
    if values is None:
        return []
    vals = list(values.tolist() if hasattr(values, "tolist") else values)
    if len(vals) != action_dim:
        raise InputValidationError(f"{name}: expected {action_dim} values (one per action dim), got {len(vals)}")
    return [_num(f"{name}[{d}]", v) for d, v in enumerate(vals)]


def build_plan_request(handle: Any, start_frame: Any, goal: Any, planner: str = "cem", *, need_start: bool = True,
                       samples: Optional[int] = None, iterations: Optional[int] = None, elites: Optional[int] = None,
                       momentum: Optional[float] = None, std_min: Optional[float] = None, lam: Optional[float] = None,
                       candidates: Any = None, action_steps: Optional[int] = None, mask: Any = None, nominal: Any = None,
                       warm_start: Any = None, init_std: Optional[float] = None, low: Any = None, high: Any = None,
                       hold_steps: Optional[int] = None, smoothing: Optional[float] = None, scorer: Optional[str] = None,
                       aggregation: str = "final", gamma: Optional[float] = None, prune: Any = None,
                       time_budget_ms: Optional[int] = None, frames_max: Optional[int] = None,
                       cost_max_usd: Optional[float] = None, num_steps: Optional[int] = None,
                       guidance: Optional[float] = None, seed: Any = 0, best_rollout: bool = False, top_k: int = 0,
                       rollout_encoding: str = "JPEG", deadline_ms: Optional[int] = None,
                       request_id: Optional[str] = None, goal_frames: Any = None) -> Dict[str, Any]:
    """The ``PlanRequest`` JSON, every obviously wrong value refused first (InputValidationError)."""
    d = handle.action_dim
    if planner not in PLANNERS:
        raise InputValidationError(f"planner: expected one of {', '.join(PLANNERS)}, got {planner!r}")
    body: Dict[str, Any] = {"model": handle.slug}
    if need_start:
        body["start_frame"] = frame_json(start_frame, handle.resolution, "start_frame")

    # cost
    if aggregation not in AGGREGATIONS:
        raise InputValidationError(f"aggregation: expected one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    if goal_frames is not None:
        # A goal trajectory: predicted frame t (1-based) is scored against goal_frames[min(t - 1, n - 1)].
        if goal is not None:
            raise InputValidationError("goal_frames: give goal (one frame) or goal_frames (a trajectory), not both")
        frames = list(goal_frames)
        if not frames:
            raise InputValidationError("goal_frames: expected at least one frame")
        cost: Dict[str, Any] = {"goal_frames": [frame_json(f, handle.resolution, f"goal_frames[{i}]") for i, f in enumerate(frames)], "aggregation": AGGREGATIONS[aggregation]}
    else:
        cost = {"goal": frame_json(goal, handle.resolution, "goal"), "aggregation": AGGREGATIONS[aggregation]}
    if scorer is not None:
        if not isinstance(scorer, str):
            raise InputValidationError(f"scorer: expected a scorer name, got {scorer!r}")
        cost["scorer"] = scorer
    if aggregation == "discounted":
        cost["gamma"] = _num("gamma", 0.99 if gamma is None else gamma, 0.0, 1.0, lo_open=True)
    elif gamma is not None:
        raise InputValidationError(f"gamma: only for aggregation='discounted', got aggregation={aggregation!r}")
    body["cost"] = cost

    # planner
    if planner == "rank":
        for name, value in (("samples", samples), ("iterations", iterations), ("elites", elites), ("lam", lam)):
            if value is not None:
                raise InputValidationError(f"{name}: not a parameter of the rank planner (it scores the candidates given)")
        cands, t = candidates_json(candidates, d)
        body["rank"] = {"candidates": cands}
        steps = t
    else:
        if candidates is not None:
            raise InputValidationError(f"candidates: only for planner='rank'; {planner} samples its own")
        defaults = CEM_DEFAULTS if planner == "cem" else MPPI_DEFAULTS
        k = _int("samples", defaults["samples"] if samples is None else samples, 2, SAMPLES_MAX)
        n = _int("iterations", defaults["iterations"] if iterations is None else iterations, 1, ITERATIONS_MAX)
        if planner == "cem":
            if lam is not None:
                raise InputValidationError("lam: an MPPI parameter; CEM takes elites, momentum and std_min")
            e = _int("elites", max(1, k // 8) if elites is None else elites, 1)
            body["cem"] = {"samples": k, "iterations": n, "elites": e,
                           "momentum": _num("momentum", CEM_DEFAULTS["momentum"] if momentum is None else momentum, 0.0, 1.0, hi_open=True),
                           "std_min": _num("std_min", CEM_DEFAULTS["std_min"] if std_min is None else std_min, 0.0)}
        else:
            for name, value in (("elites", elites), ("momentum", momentum), ("std_min", std_min)):
                if value is not None:
                    raise InputValidationError(f"{name}: a CEM parameter; MPPI takes lam (the temperature)")
            body["mppi"] = {"samples": k, "iterations": n,
                            "lambda": _num("lam", MPPI_DEFAULTS["lam"] if lam is None else lam, 0.0, lo_open=True)}
        steps = None

    # sampling space (rank ignores it server-side, so it is only sent for the sampling planners)
    sampling: Dict[str, Any] = {}
    if mask is not None:
        sampling["mask"] = _mask(mask, d)
    for name, value in (("nominal", nominal), ("warm_start", warm_start)):
        if value is not None:
            seq, t = actions_json(value, d, name)
            if steps is not None and t != steps:
                raise InputValidationError(f"{name}: expected T={steps} steps like the other sequences, got {t}")
            steps = t
            sampling[name] = seq
    if init_std is not None:
        sampling["init_std"] = _num("init_std", init_std, 0.0, lo_open=True)
    if low is not None:
        sampling["low"] = _bounds("low", low, d)
    if high is not None:
        sampling["high"] = _bounds("high", high, d)
    if hold_steps is not None:
        sampling["hold_steps"] = _int("hold_steps", hold_steps, 0, ACTION_STEPS_MAX)
    if smoothing is not None:
        sampling["smoothing"] = _num("smoothing", smoothing, 0.0, 1.0, hi_open=True)
    if planner != "rank":
        if action_steps is None:
            if steps is None:
                raise InputValidationError(f"action_steps: {planner} needs the horizon T (or a nominal / warm_start sequence)")
            action_steps = steps
        body["action_steps"] = _int("action_steps", action_steps, 1, ACTION_STEPS_MAX)
        if steps is not None and steps != action_steps:
            raise InputValidationError(f"action_steps: {action_steps}, but the nominal / warm_start sequences have T={steps}")
    elif action_steps is not None:
        raise InputValidationError("action_steps: the rank planner takes T from its candidates")
    if sampling:
        body["sampling"] = sampling

    if prune is not None:
        try:
            drop_fraction, keep_min = prune
        except (TypeError, ValueError):
            raise InputValidationError(f"prune: expected (drop_fraction, keep_min) or None, got {prune!r}") from None
        body["pruning"] = {"drop_fraction": _num("prune.drop_fraction", drop_fraction, 0.0, 1.0, lo_open=True, hi_open=True),
                           "keep_min": _int("prune.keep_min", keep_min, 1)}

    budget: Dict[str, Any] = {}
    if time_budget_ms is not None:
        budget["time_budget_ms"] = _int("time_budget_ms", time_budget_ms, 1)
    if frames_max is not None:
        budget["frames_max"] = _int("frames_max", frames_max, 1)
    if cost_max_usd is not None:
        budget["cost_max_micros"] = int(round(_num("cost_max_usd", cost_max_usd, 0.0, lo_open=True) * 1_000_000))
    if budget:
        body["budget"] = budget

    fields = dict(_inputs.sampling_fields(num_steps, guidance, seed))
    params: Dict[str, Any] = {"seed": fields["seed"]}
    if "num_steps" in fields:
        params["num_steps"] = int(fields["num_steps"])
    if "guidance" in fields:
        params["guidance"] = float(fields["guidance"])
    body["params"] = params

    if not isinstance(best_rollout, bool):
        raise InputValidationError(f"best_rollout: expected True or False, got {best_rollout!r}")
    top_k = _int("top_k", top_k, 0, SAMPLES_MAX)
    if rollout_encoding not in ROLLOUT_ENCODINGS:
        raise InputValidationError(f"rollout_encoding: expected one of {', '.join(ROLLOUT_ENCODINGS)}, got {rollout_encoding!r}")
    if best_rollout or top_k:
        body["output"] = {"best_rollout": best_rollout, "top_k": top_k, "encoding": {"encoding": rollout_encoding}}
    if deadline_ms is not None:
        body["deadline_ms"] = _int("deadline_ms", deadline_ms, 1)
    if request_id is not None and (not isinstance(request_id, str) or not request_id):
        raise InputValidationError(f"request_id: expected a non-empty string, got {request_id!r}")
    if need_start:
        body["request_id"] = request_id or str(uuid.uuid4())
    return body

