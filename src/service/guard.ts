// The call pipeline every transport shares: auth → rate limit. Transports only build a CallContext;
// this is the one place that decides who may call and how often.
import type { CallContext } from "./context";
import type { Account, BillingPort, RateLimitPort } from "./ports";

export class Guard {
  constructor(
    private readonly billing: BillingPort,
    private readonly limiter: RateLimitPort,
  ) {}

  /** Authenticates the API key, then spends one token of its bucket (before any balance check). */
  async authorize(ctx: CallContext): Promise<Account> {
    const account = await this.billing.authenticate(ctx.apiKey);
    const headers = await this.limiter.takeKey(account.keyId, account.rateLimit);
    for (const [name, value] of Object.entries(headers)) ctx.responseHeaders.set(name.toLowerCase(), value);
    return account;
  }

  /** Per-IP bound for endpoints that answer without a key, so they cannot be used to flood the server. */
  async publicCall(ctx: CallContext): Promise<void> {
    await this.limiter.takePeer(ctx.peer);
  }
}
