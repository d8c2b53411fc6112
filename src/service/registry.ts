// The served models by slug, and the requests in flight (for CancelCandidates and drain).
import { quoted, ServiceError } from "../core/errors";
import { scopedRequestId } from "../core/ids";
import type { ModelEngine, ModelSlot } from "./ports";

export class ModelRegistry {
  private readonly slots = new Map<string, ModelSlot>();

  constructor(slots: ModelSlot[]) {
    for (const s of slots) this.slots.set(s.entry.slug, s);
  }

  list(): ModelSlot[] {
    return [...this.slots.values()];
  }

  get(slug: string): ModelSlot {
    const slot = this.slots.get(slug);
    if (!slot) {
      throw new ServiceError("MODEL_NOT_FOUND", `model ${quoted(slug)} not found; GET /v1/models lists the models`, { model: slug });
    }
    return slot;
  }

  /** The engine of a live model, or the reason it cannot run. */
  live(slug: string): { slot: ModelSlot; engine: ModelEngine } {
    const slot = this.get(slug);
    if (slot.status === "loading") {
      throw new ServiceError("UNAVAILABLE", `model ${slug} is still loading`, { model: slug }, 5);
    }
    if (slot.status !== "live" || !slot.engine) {
      throw new ServiceError("MODEL_UNAVAILABLE", `model ${slug} is ${slot.status}: ${slot.statusReason}`, { model: slug, status: slot.status });
    }
    return { slot, engine: slot.engine };
  }
}

interface Inflight {
  customerId: string;
  engine: ModelEngine;
  /** The id the engine knows the request by: scoped by customer, since request ids are the customer's own. */
  engineRequestId: string;
}

export class InflightRequests {
  private readonly byKey = new Map<string, Inflight>();

  add(requestId: string, entry: Omit<Inflight, "engineRequestId">): Inflight {
    const key = scopedRequestId(entry.customerId, requestId);
    if (this.byKey.has(key)) {
      throw new ServiceError("INVALID_ARGUMENT", `request_id: ${requestId} is already in flight; use a fresh id per request`, { field: "request_id" });
    }
    const inflight = { ...entry, engineRequestId: key };
    this.byKey.set(key, inflight);
    return inflight;
  }

  remove(requestId: string, customerId: string): void {
    this.byKey.delete(scopedRequestId(customerId, requestId));
  }

  /** Only the customer that owns a request may see or cancel it. */
  find(requestId: string, customerId: string): Inflight | undefined {
    return this.byKey.get(scopedRequestId(customerId, requestId));
  }

  get size(): number {
    return this.byKey.size;
  }
}
