// The call pipeline every transport shares: auth → rate limit. Transports only build a CallContext;
// this is the one place that decides who may call and how often.
//
// Transports run a method's guard once per call, on headers/metadata alone, before the request body or
// message is read (MethodImpl.admit, built in methods.ts), and hand its Admission to the handler: a
// call spends exactly one token.
//
// Failed authentications are not free for the caller: each one spends a token of a per-address
// failure bucket (its own bucket, so a flood of bad keys neither drains the per-IP bucket of the keyless
// endpoints nor the buckets of real keys), and a flood is answered 429 once it is empty. An address that
// emptied it is "suspect" for a while (limits.authSuspectMs): a key not seen authenticating recently
// then pays the failure token *before* the lookup, so while the bucket is empty a flood of bad keys
// costs no database lookup at all; keys that authenticated recently skip that toll, so a customer
// sharing the address keeps working. There is no negative-lookup cache: the suspect rule bounds lookups
// per address, and a cached "unknown" would hide a key created a moment later.
import { createHash } from "node:crypto";
import { systemClock, type Clock } from "../core/clock";
import { ServiceError } from "../core/errors";
import { limits } from "../core/limits";
import { ipBucketId } from "../billing/ratelimit/ip";
import type { CallContext } from "./context";
import type { Account, BillingPort, RateLimitPort } from "./ports";

/** The failure bucket of an address, in the per-key scope (real key ids start "key_"; no collision). */
const failureBucket = (peer: string): string => `auth-failures:${peer}`;
const FAILURE_POLICY = Object.freeze({ ratePerS: limits.authFailureRatePerS, burst: limits.authFailureBurst });

/** A bounded map with per-entry expiry; the oldest entry goes first when full. */
class ExpiringSet {
  private readonly untilUs = new Map<string, number>();
  constructor(private readonly entriesMax: number) {}

  has(id: string, nowUs: number): boolean {
    const until = this.untilUs.get(id);
    if (until === undefined) return false;
    if (until > nowUs) return true;
    this.untilUs.delete(id);
    return false;
  }

  add(id: string, untilUs: number): void {
    this.untilUs.delete(id); // re-inserted last: refreshed entries are evicted last
    if (this.untilUs.size >= this.entriesMax) this.untilUs.delete(this.untilUs.keys().next().value!);
    this.untilUs.set(id, untilUs);
  }
}

export class Guard {
  private readonly suspects = new ExpiringSet(limits.authSuspectPeersMax);
  /** SHA-256 of keys that authenticated recently (never the keys themselves). */
  private readonly knownKeys = new ExpiringSet(limits.authKnownKeysMax);

  constructor(
    private readonly billing: BillingPort,
    private readonly limiter: RateLimitPort,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Authenticates the API key, then spends one token of its bucket (before any balance check). */
  async authorize(ctx: CallContext): Promise<Account> {
    const peer = ipBucketId(ctx.peer);
    const keyHash = createHash("sha256").update(ctx.apiKey ?? "").digest("hex");
    const now = this.clock.nowUs();
    const prepaid = this.suspects.has(peer, now) && !this.knownKeys.has(keyHash, now);
    if (prepaid) await this.chargeFailure(peer);
    let account: Account;
    try {
      account = await this.billing.authenticate(ctx.apiKey);
    } catch (err) {
      // Charged once: a prepaid call already paid. An empty bucket answers 429 instead of the 401,
      // which tells a looping client to back off.
      if (isAuthFailure(err) && !prepaid) await this.chargeFailure(peer);
      throw err;
    }
    this.knownKeys.add(keyHash, now + limits.authSuspectMs * 1000);
    const headers = await this.limiter.takeKey(account.keyId, account.rateLimit);
    for (const [name, value] of Object.entries(headers)) ctx.responseHeaders.set(name.toLowerCase(), value);
    return account;
  }

  /** Per-IP bound for endpoints that answer without a key, so they cannot be used to flood the server. */
  async publicCall(ctx: CallContext): Promise<void> {
    await this.limiter.takePeer(ctx.peer);
  }

  /** One token of the address's failure bucket; a refusal (RATE_LIMITED) makes the address suspect. */
  private async chargeFailure(peer: string): Promise<void> {
    try {
      await this.limiter.takeKey(failureBucket(peer), FAILURE_POLICY);
    } catch (err) {
      if (err instanceof ServiceError && err.reason === "RATE_LIMITED") this.suspects.add(peer, this.clock.nowUs() + limits.authSuspectMs * 1000);
      throw err;
    }
  }
}

/** A missing, malformed, unknown or revoked key: what the caller can repeat at will. */
const isAuthFailure = (err: unknown): boolean => err instanceof ServiceError && (err.reason === "UNAUTHENTICATED" || err.reason === "PERMISSION_DENIED");
