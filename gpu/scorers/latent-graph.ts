// Built-in latent scorer latent-mse: next_state float32 [B, ...latent] + goal_state float32
// [B, ...latent] (the goal frame through encoder.onnx) → cost float32 [B], the mean squared difference
// over every latent element. It sees only chunk-end states, so it gives one cost per chunk, and no frame
// is read at all. Built per model because the latent shape is read from step.onnx at load.
import { attr, DT, GraphBuilder } from "../onnx/graph";

export function latentScorerGraph(latentShape: readonly number[]) {
  const g = new GraphBuilder("dream_scorer_latent_mse");
  const state = g.input("next_state", DT.FLOAT, ["B", ...latentShape]);
  const goal = g.input("goal_state", DT.FLOAT, ["B", ...latentShape]);
  const d = g.o("Sub", [state, goal]);
  const flat = g.o("Flatten", [g.o("Mul", [d, d])], { axis: attr.i(1) });
  g.output("cost", DT.FLOAT, ["B"], g.o("ReduceMean", [flat, g.i64("scorer.latent_axes", [1], [1])], { keepdims: attr.i(0) }));
  return g.build();
}
