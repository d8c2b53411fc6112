// JSON bodies for webhook answers, in the service's error shape: {"error": {code, reason, message}}.
import { Code, errorTable, type Reason } from "../../core/errors";
import type { WebhookResponse } from "./types";

export function webhookError(status: number, reason: Reason, message: string): WebhookResponse {
  return { status, body: { error: { code: Code[errorTable[reason].code], reason, message } } };
}

export function webhookOk(body: Record<string, unknown>): WebhookResponse {
  return { status: 200, body: { received: true, ...body } };
}
