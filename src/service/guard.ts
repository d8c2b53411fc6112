// The call pipeline every transport shares: auth → rate limit. Transports only build a CallContext;
// this is the one place that decides who may call and how often.
//
// Transports run a method's guard on headers/metadata alone, before the request body or message is
// read (MethodImpl.admit), and the handler calls it again: the outcome is memoized per CallContext, so
// a call spends exactly one token however many times it is checked.
//
// Failed authentications are not free for the caller: each one spends a token of the caller's per-IP
// bucket, so a flood of bad keys is answered 429 once that bucket is empty. A peer that emptied it is
// "suspect" for a while (limits.authSuspectMs): its authentications spend the peer token *before* the
// key lookup, so while its bucket is empty it costs no database lookup at all. Clients with good keys
// never touch the per-IP bucket unless their address is the one flooding. There is no negative-lookup
// cache: the suspect rule already bounds lookups per address, and a cached "unknown" would hide a key
// created a moment later.
import { systemClock, type Clock } from "../core/clock";
import { ServiceError } from "../core/errors";
import { limits } from "../core/limits";
import { ipBucketId } from "../billing/ratelimit/ip";
import type { CallContext } from "./context";
import type { Account, BillingPort, RateLimitPort } from "./ports";

export class Guard {
  private readonly authorized = new WeakMap<CallContext, Promise<Account>>();
  private readonly admitted = new WeakMap<CallContext, Promise<void>>();
  /** Peer bucket → monotonic µs until which it is suspect. Insertion order = age, for eviction. */
  private readonly suspects = new Map<string, number>();

  constructor(
    private readonly billing: BillingPort,
    private readonly limiter: RateLimitPort,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Authenticates the API key, then spends one token of its bucket (before any balance check). */
  authorize(ctx: CallContext): Promise<Account> {
    let outcome = this.authorized.get(ctx);
    if (outcome === undefined) {
      outcome = this.authorizeOnce(ctx);
      this.authorized.set(ctx, outcome);
    }
    return outcome;
  }

  /** Per-IP bound for endpoints that answer without a key, so they cannot be used to flood the server. */
  publicCall(ctx: CallContext): Promise<void> {
    let outcome = this.admitted.get(ctx);
    if (outcome === undefined) {
      outcome = this.limiter.takePeer(ctx.peer).then(() => undefined);
      this.admitted.set(ctx, outcome);
    }
    return outcome;
  }

  private async authorizeOnce(ctx: CallContext): Promise<Account> {
    const peer = ipBucketId(ctx.peer);
    const suspect = this.isSuspect(peer);
    if (suspect) await this.chargePeer(ctx.peer, peer);
    let account: Account;
    try {
      account = await this.billing.authenticate(ctx.apiKey);
    } catch (err) {
      // Charged once: a suspect peer paid before the lookup. An empty bucket answers 429 instead of
      // the 401, which tells a looping client to back off.
      if (isAuthFailure(err) && !suspect) await this.chargePeer(ctx.peer, peer);
      throw err;
    }
    const headers = await this.limiter.takeKey(account.keyId, account.rateLimit);
    for (const [name, value] of Object.entries(headers)) ctx.responseHeaders.set(name.toLowerCase(), value);
    return account;
  }

  /** One per-IP token; a refusal (RATE_LIMITED) makes the peer suspect. */
  private async chargePeer(rawPeer: string, peer: string): Promise<void> {
    try {
      await this.limiter.takePeer(rawPeer);
    } catch (err) {
      if (err instanceof ServiceError && err.reason === "RATE_LIMITED") this.markSuspect(peer);
      throw err;
    }
  }

  private isSuspect(peer: string): boolean {
    const until = this.suspects.get(peer);
    if (until === undefined) return false;
    if (until > this.clock.nowUs()) return true;
    this.suspects.delete(peer);
    return false;
  }

  private markSuspect(peer: string): void {
    this.suspects.delete(peer); // re-inserted last: the newest failure is evicted last
    if (this.suspects.size >= limits.authSuspectPeersMax) this.suspects.delete(this.suspects.keys().next().value!);
    this.suspects.set(peer, this.clock.nowUs() + limits.authSuspectMs * 1000);
  }
}

/** A missing, malformed, unknown or revoked key: what the caller can repeat at will. */
const isAuthFailure = (err: unknown): boolean => err instanceof ServiceError && (err.reason === "UNAUTHENTICATED" || err.reason === "PERMISSION_DENIED");
