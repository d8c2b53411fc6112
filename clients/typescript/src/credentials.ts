// The channel's credentials. TLS unless the caller says otherwise or the address is this machine:
// an API key sent in the clear across a network is the mistake to make hard, while a local engine
// (the usual development and sidecar set-up) serves plaintext and should just work.
import * as grpc from "@grpc/grpc-js";

export interface TlsOptions {
  /** PEM roots to trust instead of the system's (a private CA, a self-signed server). */
  rootCerts?: Buffer;
  /** PEM client key and certificate, for servers that require mutual TLS. */
  privateKey?: Buffer;
  certChain?: Buffer;
}

export interface CredentialOptions {
  /** Used as given; wins over `tls`. */
  credentials?: grpc.ChannelCredentials;
  /** true or options: TLS; false: plaintext. Default: plaintext for loopback addresses, TLS otherwise. */
  tls?: boolean | TlsOptions;
}

/**
 * Whether a gRPC target names this machine: localhost, 127.0.0.0/8, ::1 (with or without a dns:,
 * ipv4: or ipv6: scheme and a port), or a unix socket.
 */
export function isLoopbackAddress(address: string): boolean {
  if (/^unix(-abstract)?:/.test(address)) return true;
  const rest = address.replace(/^(dns:(\/\/[^/]*\/)?|ipv4:|ipv6:)/, "");
  const host = rest.startsWith("[") ? rest.slice(1, rest.indexOf("]")) : rest.split(":").length > 2 ? rest : rest.split(":")[0]!;
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function channelCredentials(address: string, options: CredentialOptions): grpc.ChannelCredentials {
  if (options.credentials) return options.credentials;
  const tls = options.tls ?? !isLoopbackAddress(address);
  if (tls === false) return grpc.credentials.createInsecure();
  const o = tls === true ? {} : tls;
  return grpc.credentials.createSsl(o.rootCerts ?? null, o.privateKey ?? null, o.certChain ?? null);
}
