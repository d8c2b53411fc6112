// Which bucket a caller address falls in, for the per-IP limits on unauthenticated endpoints.
// IPv6 is bucketed per /64: one host usually owns a whole /64, so per-address buckets would let a
// single machine rotate addresses and never be limited.
import { isIPv4, isIPv6 } from "node:net";

/**
 * Accepts a plain address ("10.0.0.1", "::1"), an address with port ("10.0.0.1:5123", "[::1]:5123"),
 * or a grpc-js peer ("ipv4:10.0.0.1:5123", "ipv6:[2001:db8::1]:5123"). Unknown shapes are used
 * verbatim (lower-cased) so they still get a bucket of their own.
 */
export function ipBucketId(peer: string): string {
  let addr = peer.trim().replace(/^ipv[46]:/i, "");
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(addr);
  if (bracketed) addr = bracketed[1];
  else if (/^[\d.]+:\d+$/.test(addr)) addr = addr.slice(0, addr.lastIndexOf(":"));
  addr = addr.replace(/%.*$/, "").toLowerCase(); // zone id ("fe80::1%eth0") is host-local
  if (addr.startsWith("::ffff:") && isIPv4(addr.slice(7))) return addr.slice(7);
  if (isIPv4(addr)) return addr;
  if (isIPv6(addr)) return `${expandIpv6(addr).slice(0, 4).join(":")}::/64`;
  return addr;
}

/** Eight 16-bit groups, without leading zeros. Handles "::" and an embedded dotted IPv4 tail. */
function expandIpv6(addr: string): string[] {
  let text = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split(".").map(Number);
    text = text.slice(0, v4.index) + ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill("0");
  return [...headGroups, ...zeros, ...tailGroups].map((g) => parseInt(g, 16).toString(16));
}
