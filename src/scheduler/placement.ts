// Which replica of a model a new request goes to, as a pure function of what each replica holds. A
// request's lanes stay on one replica for their whole life (their latent states live there), so this is
// decided once, at submit. The rule: the replica where it can start soonest — estimated as the full
// batches of work ahead of it there times that replica's step duration — then the one with the fewest
// lanes ahead, then the lowest index. Batch lanes are preemptible (plan.ts rule 3a), so an interactive
// request counts only the interactive lanes ahead of it; a batch request counts every lane.
import type { Priority } from "./request";

export interface ReplicaView {
  /** Whether it serves (its runner is up: not restarting, not failed, not closed). */
  healthy: boolean;
  batchLanesMax: number;
  /** Lanes holding state or in play, and lanes waiting, per class. */
  interactiveLanes: number;
  interactiveQueuedLanes: number;
  batchLanes: number;
  batchQueuedLanes: number;
  /** The replica's smoothed step duration (0 = not measured yet). */
  stepUsEstimate: number;
}

/** A replica's view from its scheduler's stats (SchedulerStats has every field placement weighs). */
export function replicaView(
  stats: { interactiveLanes: number; interactiveQueuedLanes: number; batchLanes: number; batchQueuedLanes: number; stepUsEstimate: number },
  healthy: boolean,
  batchLanesMax: number,
): ReplicaView {
  const { interactiveLanes, interactiveQueuedLanes, batchLanes, batchQueuedLanes, stepUsEstimate } = stats;
  return { healthy, batchLanesMax, interactiveLanes, interactiveQueuedLanes, batchLanes, batchQueuedLanes, stepUsEstimate };
}

export interface Placement {
  replica: number;
  /** Full batches of work ahead of the request there (0 = it joins at the next chunk boundary). */
  batchesAhead: number;
}

/** The replica for a request of `lanes` lanes and `priority`; undefined when none is healthy. */
export function placeRequest(replicas: readonly ReplicaView[], lanes: number, priority: Priority): Placement | undefined {
  let best: { placement: Placement; startUs: number; ahead: number } | undefined;
  replicas.forEach((r, replica) => {
    if (!r.healthy) return;
    const ahead = r.interactiveLanes + r.interactiveQueuedLanes + (priority === "batch" ? r.batchLanes + r.batchQueuedLanes : 0);
    const batchesAhead = Math.max(0, Math.ceil((ahead + lanes - r.batchLanesMax) / r.batchLanesMax));
    // An unmeasured replica is assumed as fast as the slowest measured one would be: 1 µs keeps the
    // comparison by batches ahead alone until every replica has stepped.
    const startUs = batchesAhead * Math.max(1, r.stepUsEstimate);
    if (best === undefined || startUs < best.startUs || (startUs === best.startUs && ahead < best.ahead)) {
      best = { placement: { replica, batchesAhead }, startUs, ahead };
    }
  });
  return best?.placement;
}
