// Chooses the top-up implementation from configuration: Stripe when both keys are set, the clear
// "not configured" variant when neither is. Exactly one key set is refused at start-up: a server
// that can take payments but cannot verify Stripe's webhooks would take money without crediting it.
import type { StripeClientOptions, TopupCreditor, TopupLogger, Topups } from "./types";
import { NotConfiguredTopups } from "./not-configured";
import { StripeTopups } from "./topups";

export interface TopupsSettings {
  /** STRIPE_SECRET_KEY */
  secretKey?: string;
  /** STRIPE_WEBHOOK_SECRET */
  webhookSecret?: string;
  /** Required when the keys are set. */
  successUrl?: string;
  cancelUrl?: string;
  client?: StripeClientOptions;
  logger?: TopupLogger;
}

export class TopupsConfigError extends Error {
  override name = "TopupsConfigError";
}

export function createTopups(settings: TopupsSettings, creditor: TopupCreditor): Topups {
  const secretKey = settings.secretKey?.trim() ?? "";
  const webhookSecret = settings.webhookSecret?.trim() ?? "";
  if (secretKey === "" && webhookSecret === "") return new NotConfiguredTopups();
  if (secretKey === "" || webhookSecret === "") {
    const [set, unset] = secretKey === "" ? ["STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY"] : ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"];
    throw new TopupsConfigError(`${set} is set but ${unset} is not: set both to enable top-ups, or neither to disable them`);
  }
  for (const [name, value] of [["successUrl", settings.successUrl], ["cancelUrl", settings.cancelUrl]] as const) {
    if (value === undefined || !/^https?:\/\/\S+$/.test(value)) {
      throw new TopupsConfigError(`Stripe top-ups need an absolute http(s) ${name}, got ${JSON.stringify(value)}`);
    }
  }
  return new StripeTopups(
    {
      secretKey,
      webhookSecret,
      successUrl: settings.successUrl as string,
      cancelUrl: settings.cancelUrl as string,
      client: settings.client,
      logger: settings.logger,
    },
    creditor,
  );
}
