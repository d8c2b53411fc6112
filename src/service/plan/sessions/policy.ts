// The pure decisions of the session store: when an idle session has expired, whether another may open
// (per key, per server), and when a refused caller should come back. No clock, no state of their own.

export interface SessionClock {
  /** When the session was created or its last step finished (Clock.nowUs terms). */
  lastUsedUs: number;
  ttlS: number;
  /** A step is running: a session is never idle while it plans. */
  running: boolean;
}

export const expiresAtUs = (s: SessionClock): number => s.lastUsedUs + s.ttlS * 1_000_000;

/** Idle for its whole TTL (the boundary included) and not stepping. */
export const isExpired = (s: SessionClock, nowUs: number): boolean => !s.running && nowUs >= expiresAtUs(s);

export interface SessionBounds {
  perKeyMax: number;
  totalMax: number;
}

/** Which bound another session would break, if any: the key's own first, then the server's. */
export function openRefusal(openForKey: number, openTotal: number, bounds: SessionBounds): "key" | "server" | undefined {
  if (openForKey >= bounds.perKeyMax) return "key";
  if (openTotal >= bounds.totalMax) return "server";
  return undefined;
}

/**
 * Whole seconds until the first of `sessions` would expire if left idle (at least 1): when a refused
 * open may succeed without any session being closed. A running session counts its full TTL from now.
 */
export function retryAfterS(sessions: Iterable<SessionClock>, nowUs: number): number {
  let soonestUs = Infinity;
  for (const s of sessions) soonestUs = Math.min(soonestUs, s.running ? nowUs + s.ttlS * 1_000_000 : expiresAtUs(s));
  if (!Number.isFinite(soonestUs)) return 1;
  return Math.max(1, Math.ceil((soonestUs - nowUs) / 1_000_000));
}

/** A TTL as the request gives it (0 = the default), or the field's error message. */
export function ttlOf(askedS: number, defaultS: number, maxS: number): number | string {
  if (askedS === 0) return defaultS;
  if (!Number.isInteger(askedS) || askedS < 1 || askedS > maxS) return `expected 1..${maxS} seconds (0 = ${defaultS}), got ${askedS}`;
  return askedS;
}
