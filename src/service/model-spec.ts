// CatalogEntry + serving state → the public ModelSpec (docs/API.md "ModelSpec").
import { MICROS_PER_USD } from "../core/money";
import type { ModelSpec } from "../gen/dream/v1/dream";
import type { ModelSlot } from "./ports";

export function modelSpec(slot: ModelSlot): ModelSpec {
  const e = slot.entry;
  const framesPerRollout = e.canonicalActionSteps + 1;
  const perFrameUsd = e.pricePerFrameMicros / MICROS_PER_USD;
  return {
    slug: e.slug,
    name: e.name,
    provider: e.provider,
    upstreamProvider: e.upstreamProvider,
    category: e.category,
    summary: e.summary,
    license: e.license,
    links: e.links,
    active: slot.status === "live",
    status: slot.status,
    statusReason: slot.statusReason,
    arch: {
      resolution: [...e.resolution],
      actionDim: e.actionDim,
      chunkSize: e.chunkSize,
      fps: e.fps,
      framesPerRollout,
      defaultNumSteps: e.defaultNumSteps,
      modelSize: e.modelSize,
    },
    pricing: {
      pricePerFrameUsd: perFrameUsd,
      pricePerRolloutUsd: (e.pricePerFrameMicros * framesPerRollout) / MICROS_PER_USD,
      pricePerMillionFramesUsd: e.pricePerFrameMicros,
      pricePerFrameMicros: e.pricePerFrameMicros,
    },
    benchmark: {
      p50Ms: e.benchmark?.p50Ms,
      p99Ms: e.benchmark?.p99Ms,
      psnr: e.benchmark?.psnr,
      ssim: e.benchmark?.ssim,
      lpips: e.benchmark?.lpips,
    },
  };
}
