// A failed call to Stripe as our error vocabulary. Internals (keys, Stripe's messages about our
// account) never reach the caller; what the caller can act on is a retry or a fix to their request.
import { ServiceError } from "../../core/errors";
import { StripeErrors } from "./client";

export function serviceErrorFromStripe(err: unknown): ServiceError {
  if (!(err instanceof StripeErrors.StripeError)) return ServiceError.from(err);
  switch (err.type) {
    case "StripeConnectionError":
    case "StripeAPIError":
    case "StripeRateLimitError":
      return new ServiceError("UNAVAILABLE", "the payment provider is unavailable; try the top-up again shortly", {}, 5);
    case "StripeIdempotencyError":
      return new ServiceError("INVALID_ARGUMENT", "request_id: already used for a different top-up; use a fresh request id", { field: "request_id" });
    default:
      // Authentication, permission and invalid-request errors mean our configuration is wrong.
      return new ServiceError("INTERNAL", "could not create the checkout session");
  }
}
