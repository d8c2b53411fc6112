#!/usr/bin/env python3
"""Closed-loop visual MPC against Dream Engine, with a reference model as the simulated world.

The goal is the frame a hidden action sequence (--goal-chunks chunks) reaches from the start frame,
executed in the simulated world one chunk at a time. Each decision plans on the server (a control
session: CEM on the GR-1 action slot [0, 29), warm-started from the previous decision, --horizon-chunks
ahead), "executes" the first chunk by predicting the next observation from the current one with those
actions (the model is the simulator), and stops when the observed goal cost falls under --threshold or
after --decisions. Prints per-decision latency, planned (server scorer) and observed (client pixel
MSE) cost, bytes received and money spent; --plot writes a cost-per-decision SVG.

    python3 clients/python/examples/mpc.py --base-url http://127.0.0.1:8080 --api-key dre_… \\
        --model dream-reference-tiny --decisions 3 --plot cost.svg

Standard library only (numpy is used by the SDK when it is installed, never needed here).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from typing import List, Optional, Sequence

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout

import dream  # noqa: E402

MASK = (0, 29)  # GR-1's slot of the unified 384-d action vector


def start_frame(h: int, w: int) -> bytes:
    """A deterministic picture (gradients and a bright square), as RGB bytes."""
    out = bytearray(h * w * 3)
    for y in range(h):
        for x in range(w):
            i = (y * w + x) * 3
            square = abs(y - h / 2) < h / 8 and abs(x - w / 2) < w / 8
            out[i:i + 3] = bytes((240, 220, 30)) if square else bytes(((255 * x) // w, (255 * y) // h, 128))
    return bytes(out)


def hidden_sequence(steps: int, dim: int, hold: int, seed: int) -> List[List[float]]:
    """Piecewise-constant (held every `hold` steps) actions in the mask, zeros elsewhere."""
    rng = random.Random(seed)
    rows: List[List[float]] = []
    for t in range(steps):
        if t % hold == 0:
            held = [0.8 * rng.gauss(0.0, 1.0) for _ in range(MASK[1] - MASK[0])]
        rows.append([0.0] * MASK[0] + held + [0.0] * (dim - MASK[1]))
    return rows


def simulate(model: "dream.ModelHandle", observation: bytes, actions, num_steps: int, seed: int) -> bytes:
    """The world: the model's exact last frame (RAW_RGB8) after `actions` from `observation`."""
    h, w = model.resolution
    last = None
    for chunk in model.stream(start_frame=dream.png_from_rgb(h, w, observation), actions=actions,
                              num_steps=num_steps, seed=seed):
        last = chunk.candidates[0].frames[-1]
    assert last is not None and len(last) == h * w * 3
    return last


def pixel_cost(a: bytes, b: bytes) -> float:
    """Mean squared difference in [0, 1] units: what the robot sees, measured on the client."""
    return sum((x - y) * (x - y) for x, y in zip(a, b)) / (len(a) * 255.0 * 255.0)


def write_svg(path: str, planned: Sequence[float], observed: Sequence[float]) -> None:
    """A small line plot of planned and observed goal cost per decision, by hand (no plotting library)."""
    width, height, pad = 420, 240, 40
    top = max(list(planned) + list(observed) + [1e-12])
    n = max(len(planned), 2)

    def points(values: Sequence[float]) -> str:
        return " ".join(f"{pad + i * (width - 2 * pad) / (n - 1):.1f},{height - pad - v / top * (height - 2 * pad):.1f}"
                        for i, v in enumerate(values))

    ticks = "".join(f'<text x="{pad + i * (width - 2 * pad) / (n - 1):.1f}" y="{height - pad + 16}" font-size="11" '
                    f'text-anchor="middle">{i}</text>' for i in range(len(planned)))
    svg = f"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">
  <rect width="{width}" height="{height}" fill="white"/>
  <text x="{width / 2}" y="18" font-size="13" text-anchor="middle">goal cost per decision</text>
  <line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>
  <line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>
  <text x="{pad - 4}" y="{pad + 4}" font-size="11" text-anchor="end">{top:.3g}</text>
  <text x="{pad - 4}" y="{height - pad + 4}" font-size="11" text-anchor="end">0</text>
  {ticks}
  <text x="{width / 2}" y="{height - 6}" font-size="11" text-anchor="middle">decision</text>
  <polyline points="{points(planned)}" fill="none" stroke="#1f77b4" stroke-width="2"/>
  <polyline points="{points(observed)}" fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="4 3"/>
  <text x="{pad}" y="{pad - 10}" font-size="11" fill="#1f77b4">planned (server scorer)</text>
  <text x="{width - pad}" y="{pad - 10}" font-size="11" text-anchor="end" fill="#d62728">observed (client pixel MSE)</text>
</svg>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(svg)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", default=None, help="default: $DREAM_BASE_URL or http://127.0.0.1:8080")
    p.add_argument("--api-key", default=None, help="default: $DREAM_API_KEY")
    p.add_argument("--model", default="dream-reference-tiny")
    p.add_argument("--decisions", type=int, default=3, help="at most this many decisions")
    p.add_argument("--threshold", type=float, default=1e-3, help="stop once the observed pixel MSE is below this")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--elites", type=int, default=4)
    p.add_argument("--num-steps", type=int, default=1, help="diffusion steps per chunk (1: fast, for the tiny model)")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--horizon-chunks", type=int, default=1, help="planning horizon in chunks (one is executed per decision)")
    p.add_argument("--goal-chunks", type=int, default=2, help="length of the hidden sequence that defines the goal, in chunks")
    p.add_argument("--stateless", action="store_true", help="plan each decision with model.plan (no session)")
    p.add_argument("--plot", default=None, help="write a cost-per-decision SVG here")
    args = p.parse_args(argv)
    if args.decisions < 1:
        p.error("--decisions must be >= 1")

    client = dream.Client(api_key=args.api_key, base_url=args.base_url)
    model = client.models.get(args.model)
    h, w = model.resolution
    chunk = model.chunk_size
    horizon = args.horizon_chunks * chunk
    observation = start_frame(h, w)
    hidden = hidden_sequence(args.goal_chunks * chunk, model.action_dim, chunk, seed=11)
    goal = observation
    for c in range(args.goal_chunks):  # through the simulated world, one executed chunk at a time
        goal = simulate(model, goal, hidden[c * chunk:(c + 1) * chunk], args.num_steps, args.seed)
    goal_png = dream.png_from_rgb(h, w, goal)
    planner = dict(samples=args.samples, iterations=args.iterations, elites=args.elites, action_steps=horizon,
                   mask=[MASK], init_std=0.8, hold_steps=chunk, num_steps=args.num_steps, seed=args.seed)
    print(f"model {model.slug} {h}x{w}, horizon {horizon} steps, executing {chunk} per decision, "
          f"CEM K={args.samples} I={args.iterations} E={args.elites} on dims [{MASK[0]}, {MASK[1]})"
          f"{' (stateless)' if args.stateless else ' (session)'}")
    print(f"start: observed cost {pixel_cost(observation, goal):.6g}")

    session = None if args.stateless else client.sessions.create(model, goal_png, "cem", execute_steps=chunk, ttl_s=60, **planner)
    planned: List[float] = []
    observed: List[float] = []
    spent = 0.0
    warm = None
    try:
        for i in range(args.decisions):
            t0 = time.monotonic()
            if session is not None:
                step = session.step(dream.png_from_rgb(h, w, observation))
                plan, actions = step.plan, step.actions
            else:
                plan = model.plan(dream.png_from_rgb(h, w, observation), goal_png, "cem", warm_start=warm, **planner)
                best = [list(r) for r in plan.best_actions]
                actions = best[:chunk]
                warm = best[chunk:] + [best[-1]] * chunk  # shift by the executed steps
            latency_ms = (time.monotonic() - t0) * 1000
            spent += plan.cost_usd
            observation = simulate(model, observation, actions, args.num_steps, args.seed)
            cost = pixel_cost(observation, goal)
            planned.append(plan.best_cost)
            observed.append(cost)
            print(f"decision {i}: latency {latency_ms:.1f} ms, cost {plan.best_cost:.6g} planned / {cost:.6g} observed, "
                  f"{plan.iterations_completed} iterations, {plan.frames} frames, received {plan.bytes_received} B, "
                  f"spent ${plan.cost_usd:.4f} (total ${spent:.4f})")
            if cost < args.threshold:
                print(f"goal reached: observed cost {cost:.6g} < {args.threshold}")
                break
    finally:
        if session is not None:
            summary = session.close()
            print(f"session {session.session_id} closed: {summary.steps} steps, ${summary.cost_usd:.4f}")
    if args.plot:
        write_svg(args.plot, planned, observed)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
