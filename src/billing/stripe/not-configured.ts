// Top-ups on a server without Stripe keys: every call says so clearly instead of failing obscurely.
import { ServiceError } from "../../core/errors";
import type { CreateTopupRequest, TopupSession, Topups, WebhookResponse } from "./types";
import { webhookError } from "./webhook-body";

export const TOPUPS_NOT_CONFIGURED_MESSAGE = "top-ups are not configured on this server: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET";

export class NotConfiguredTopups implements Topups {
  readonly configured = false;

  async createTopup(_request: CreateTopupRequest): Promise<TopupSession> {
    throw new ServiceError("TOPUPS_NOT_CONFIGURED", TOPUPS_NOT_CONFIGURED_MESSAGE);
  }

  /**
   * 503 rather than the table's 412: a webhook arriving here means Stripe IS set up on the account and
   * this server is missing its keys. Stripe retries non-2xx for days, so once the operator sets the
   * keys, the redelivered events are credited and no paid top-up is lost.
   */
  async handleWebhook(_rawBody: Buffer, _signatureHeader: string | undefined): Promise<WebhookResponse> {
    return webhookError(503, "TOPUPS_NOT_CONFIGURED", TOPUPS_NOT_CONFIGURED_MESSAGE);
  }
}
