// Key layout of the balance store on a Redis Cluster. A cluster runs a script only when every key it
// names hashes to one slot (else CROSSSLOT), so the store is cut into BUCKETS: each customer belongs to
// one bucket (a hash of its id), and everything about that customer, plus the bucket's own bookkeeping,
// carries the bucket's hash tag `{P:<bucket>}`:
//
//   {P:b}:gen        ready marker; its value is the master's replication id at the last rebuild
//   {P:b}:lock       this bucket's copy of the rebuild token (a resync checks it in the same slot)
//   {P:b}:exp        zset of the bucket's pending holds by expiry
//   {P:b}:customers  set of the bucket's customers
//   {P:b}:c:<cust>   hash avail/held/snap     {P:b}:cp:<cust>  set of its pending request ids
//   {P:b}:h:<req>    hash c/amt/exp/st/cap/rel (the hold lives with its customer)
//   {P:b}:cr:<cust>:<seq>  mirrored-credit marker
//
// Outside any bucket (single-key commands only, so any slot is fine):
//   P:rebuild-lock   the one rebuild at a time     P:outbox  settlements waiting for the ledger
//   P:ri:<req>       request id → customer: post/void/renew/hold/cancel name only the request, and
//                    the index says which bucket holds it
//
// Why buckets and not a tag per customer: "is this store a complete mirror of the ledger?" must be
// answered inside each money script, for customers the store has never seen too. A per-bucket marker
// in the bucket's slot does that atomically; a per-customer tag would leave the marker in another slot.
// 64 buckets spread over 64 slots: enough to spread load over a few masters, few enough that whole-store
// operations (ready, rebuild, sweeps) stay a few dozen calls.
export const BUCKETS = 64;

/** FNV-1a over the UTF-16 code units: stable across processes and versions (it decides the layout). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class ClusterKeys {
  constructor(readonly prefix: string) {
    // A brace in the prefix would move the hash tag and scatter a bucket over several slots.
    if (/[{}]/.test(prefix)) throw new Error(`Redis key prefix must not contain { or }: ${JSON.stringify(prefix)}`);
  }

  bucketOf(id: string): number {
    return fnv1a(id) % BUCKETS;
  }

  /** The tag every key of bucket b starts with; scripts derive further keys from it, in the same slot. */
  tag(bucket: number): string {
    return `{${this.prefix}:${bucket}}`;
  }

  all(): number[] {
    return Array.from({ length: BUCKETS }, (_, b) => b);
  }

  gen = (b: number): string => `${this.tag(b)}:gen`;
  lock = (b: number): string => `${this.tag(b)}:lock`;
  exp = (b: number): string => `${this.tag(b)}:exp`;
  customers = (b: number): string => `${this.tag(b)}:customers`;
  customer = (b: number, c: string): string => `${this.tag(b)}:c:${c}`;
  pending = (b: number, c: string): string => `${this.tag(b)}:cp:${c}`;
  hold = (b: number, r: string): string => `${this.tag(b)}:h:${r}`;
  creditMarker = (b: number, c: string, seq: string): string => `${this.tag(b)}:cr:${c}:${seq}`;

  rebuildLock(): string {
    return `${this.prefix}:rebuild-lock`;
  }
  outbox(): string {
    return `${this.prefix}:outbox`;
  }
  requestIndex(requestId: string): string {
    return `${this.prefix}:ri:${requestId}`;
  }
}
