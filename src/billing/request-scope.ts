// Every hold and settlement is keyed by core/ids.ts's scopedRequestId (customer, request id): one
// customer's ids neither collide with nor reveal another's. The ledger's and store's request_id column
// holds this scoped key, so their unique constraints (one hold, one debit, one refund, one settlement per
// key) keep their meaning per customer without a schema change.
import { scopedRequestId } from "../core/ids";

export { scopedRequestId };

/** The client's request id from a scoped key of this customer (an unscoped legacy id comes back as is). */
export function clientRequestId(customerId: string, key: string): string {
  const prefix = `${customerId}/`;
  return key.startsWith(prefix) ? key.slice(prefix.length) : key;
}
