// The scorer I/O contract, checked when a scorer session is created (docs/MODEL_CONTRACT.md "Scorers"),
// so a wrong export fails the model's load with MODEL_UNAVAILABLE naming the tensor, never mid-request.
// A scorer's kind follows from its inputs: `next_state` + `goal_state` make a latent scorer, anything
// else must be a frame scorer (`frames` + `goal`).
import type * as ort from "onnxruntime-node";
import { ServiceError } from "../../src/core/errors";
import type { ModelGeometry, ScorerKind } from "../../src/scheduler/executor";
import { checkContract, fixedDim, type Spec } from "../sessions";

export interface ScorerShape {
  kind: ScorerKind;
  /** Frame scorers only: false when the graph fixes F (= chunkSize); per-frame goals then cannot fold F into B. */
  framesDimSymbolic: boolean;
}

type Meta = ort.InferenceSession.TensorValueMetadata;

function shapeOf(list: readonly ort.InferenceSession.ValueMetadata[], name: string): readonly (number | string)[] {
  return (list.find((m) => m.name === name) as Meta).shape;
}

/** A fixed dim must equal `expected`; a symbolic one is fine. */
function matchDim(file: string, name: string, dim: number | string | undefined, expected: number): void {
  if (typeof dim === "number") fixedDim(file, name, dim, expected);
}

function onlyThese(file: string, what: string, actual: readonly ort.InferenceSession.ValueMetadata[], specs: Spec[]): void {
  const extra = actual.find((m) => !specs.some((s) => s.name === m.name));
  if (extra !== undefined) {
    throw new ServiceError("MODEL_UNAVAILABLE", `${file}: unexpected ${what} ${JSON.stringify(extra.name)} (a scorer takes exactly ${specs.map((s) => s.name).join(" and ")}; see docs/MODEL_CONTRACT.md)`, { file, name: extra.name });
  }
}

function checkCost(file: string, session: ort.InferenceSession, ranks: number[]): void {
  const cost = session.outputMetadata.find((m) => m.name === "cost");
  const rank = cost?.isTensor === true ? cost.shape.length : 0;
  checkContract(file, "output", session.outputMetadata, [{ name: "cost", type: "float32", rank: ranks.includes(rank) ? rank : ranks[0]! }]);
}

export function checkScorer(file: string, session: ort.InferenceSession, geo: ModelGeometry, latentShape: readonly number[]): ScorerShape {
  const latent = session.inputMetadata.some((m) => m.name === "next_state");
  if (latent) {
    const rank = latentShape.length + 1;
    const specs: Spec[] = [
      { name: "next_state", type: "float32", rank },
      { name: "goal_state", type: "float32", rank },
    ];
    checkContract(file, "input", session.inputMetadata, specs);
    onlyThese(file, "input", session.inputMetadata, specs);
    for (const s of specs) latentShape.forEach((d, i) => matchDim(file, s.name, shapeOf(session.inputMetadata, s.name)[i + 1], d));
    checkCost(file, session, [1, 2]); // [B] or [B, 1]
    const costShape = shapeOf(session.outputMetadata, "cost");
    if (costShape.length === 2) matchDim(file, "cost", costShape[1], 1);
    return { kind: "latent", framesDimSymbolic: false };
  }
  const specs: Spec[] = [
    { name: "frames", type: "uint8", rank: 5 },
    { name: "goal", type: "uint8", rank: 4 },
  ];
  checkContract(file, "input", session.inputMetadata, specs);
  onlyThese(file, "input", session.inputMetadata, specs);
  checkCost(file, session, [2]);
  const frames = shapeOf(session.inputMetadata, "frames");
  matchDim(file, "frames", frames[1], geo.chunkSize);
  [geo.height, geo.width, 3].forEach((d, i) => matchDim(file, "frames", frames[i + 2], d));
  const goal = shapeOf(session.inputMetadata, "goal");
  [geo.height, geo.width, 3].forEach((d, i) => matchDim(file, "goal", goal[i + 1], d));
  matchDim(file, "cost", shapeOf(session.outputMetadata, "cost")[1], geo.chunkSize);
  return { kind: "frames", framesDimSymbolic: typeof frames[1] !== "number" };
}
