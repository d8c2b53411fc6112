// A vega-lite spec → SVG text, headless (vega's "none" renderer: no canvas, no browser). vega and
// vega-lite are ES modules; this CommonJS project loads them with a dynamic import.
import type { TopLevelSpec } from "vega-lite";

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
