// Seeded REST cases: every documented route plus unknown ones, with mutated paths and slugs (long,
// badly percent-encoded, carrying an API key), methods, headers (auth shapes, content types, sizes),
// JSON bodies with the wrong types, multipart bodies with broken structure, images and .npy parts.
import { actionsBytes, frameBytes, STEPS_MAX, TINY, type Seeds } from "./inputs";
import { mutateBytes } from "./mutate";
import type { Prng } from "./prng";

export interface RestCase {
  kind: string;
  /** The case sent grpc-timeout: a 504 DEADLINE_EXCEEDED is then its own choice. */
  deadlineSet?: boolean;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface RestKeys {
  /** The lane's own key, with credits: most cases use it so that bodies get parsed. */
  valid: string;
  /** Another customer's key, only ever placed where it must not be logged (paths, fields). */
  other: string;
}

type Route = { method: string; path: (slug: string) => string; body?: "predict" | "batch" | "json" | "webhook" };

const ROUTES: Route[] = [
  { method: "GET", path: () => "/healthz" },
  { method: "GET", path: () => "/v1/status" },
  { method: "GET", path: () => "/v1/models" },
  { method: "GET", path: (s) => `/v1/models/${s}` },
  { method: "POST", path: (s) => `/v1/models/${s}/predict`, body: "predict" },
  { method: "POST", path: (s) => `/v1/models/${s}/predict_batch`, body: "batch" },
  { method: "POST", path: (s) => `/v1/models/${s}/stream_predict`, body: "json" },
  { method: "POST", path: (s) => `/v1/requests/${s}/cancel`, body: "json" },
  { method: "GET", path: () => "/v1/billing/balance" },
  { method: "GET", path: () => "/v1/billing/transactions" },
  { method: "POST", path: () => "/v1/billing/topup", body: "json" },
  { method: "POST", path: () => "/v1/billing/stripe/webhook", body: "webhook" },
  { method: "GET", path: () => "/v1/openapi.json" },
  { method: "GET", path: (s) => `/${s}` },
];

export function restCase(rng: Prng, seeds: Seeds, keys: RestKeys): RestCase {
  const route = rng.pick(ROUTES);
  const method = rng.chance(0.08) ? rng.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "POST"]) : route.method;
  const path = route.path(slug(rng, keys)) + query(rng);
  const headers: Record<string, string> = { ...authHeader(rng, keys) };
  if (rng.chance(0.05)) headers["x-request-id"] = rng.pick([rng.text(rng.int(0, 300)), rng.uuid(), keys.valid]);
  if (rng.chance(0.04)) headers["x-fuzz-" + rng.int(0, 9)] = "v".repeat(rng.int(1, 20_000));
  if (rng.chance(0.03)) headers["grpc-timeout"] = rng.pick(["1m", "0S", "99999999H", "x", "-1n"]);
  const deadlineSet = "grpc-timeout" in headers;
  if (!route.body || method === "GET" || method === "HEAD") return { kind: `rest ${method} ${route.path("{}")}`, method, path, headers, deadlineSet };
  const body = bodyFor(rng, seeds, keys, route.body);
  return { kind: `rest ${method} ${route.path("{}")} ${body.kind}`, method, path, headers: { ...headers, ...body.headers }, body: body.bytes, deadlineSet };
}

function slug(rng: Prng, keys: RestKeys): string {
  switch (rng.int(0, 9)) {
    case 0:
      return "x".repeat(rng.int(1_000, 20_000));
    case 1:
      return rng.pick(["%ZZ", "%", "%C3%28", "%00", "%E0%80%AF", "..%2F..%2Fetc", "%2e%2e"]) + rng.text(rng.int(0, 8)).replace(/[^A-Za-z0-9]/g, "a");
    case 2:
      return rng.pick(["%ZZ", "a", "%41", "_"]) + keys.other;
    case 3:
      return encodeURIComponent(rng.text(rng.int(1, 40), true));
    case 4:
      return encodeURIComponent(rng.text(rng.int(1, 40)));
    default:
      return TINY;
  }
}

function query(rng: Prng): string {
  if (!rng.chance(0.2)) return "";
  const value = rng.pick(["10", "-1", "0", "1e9", "abc", "%ZZ", "9".repeat(rng.int(1, 400)), ""]);
  return `?${rng.pick(["limit", "num_steps", "seed", "x", "%ZZ"])}=${value}`;
}

function authHeader(rng: Prng, keys: RestKeys): Record<string, string> {
  const r = rng.next();
  if (r < 0.75) return { authorization: `Bearer ${keys.valid}` };
  if (r < 0.83) return {};
  if (r < 0.88) return { authorization: `Bearer dre_${"a".repeat(43)}` };
  if (r < 0.92) return { authorization: `Bearer ${keys.valid}x` };
  if (r < 0.95) return { authorization: rng.pick(["Bearer", "Basic Zm9vOmJhcg==", "bearer  ", `Bearer ${"z".repeat(8_000)}`]) };
  return { authorization: `Bearer ${rng.text(rng.int(0, 64))}` };
}

interface Body {
  kind: string;
  headers: Record<string, string>;
  bytes: Buffer;
}

function bodyFor(rng: Prng, seeds: Seeds, keys: RestKeys, shape: NonNullable<Route["body"]>): Body {
  const r = rng.next();
  if ((shape === "predict" || shape === "batch") && r < 0.3) return validMultipart(rng, seeds, shape === "batch");
  if ((shape === "predict" || shape === "batch") && r < 0.7) return multipartBody(rng, seeds, keys, shape === "batch");
  if (r < 0.9) return jsonBody(rng, seeds, keys);
  const ct = rng.pick(["application/json", "multipart/form-data", "multipart/form-data; boundary=", "text/plain", "application/x-www-form-urlencoded", ""]);
  return { kind: "noise", headers: ct ? { "content-type": ct } : {}, bytes: rng.bytes(rng.int(0, 8192)) };
}

function multipartBody(rng: Prng, seeds: Seeds, keys: RestKeys, batch: boolean): Body {
  const boundary = rng.chance(0.9) ? `fuzz${rng.int(0, 1e9)}` : rng.pick(["", "x".repeat(200), "--", "a b", rng.text(10)]);
  const parts: Buffer[] = [];
  const part = (name: string, data: Buffer, filename?: string) => {
    const disp = rng.chance(0.95) ? `form-data; name="${name}"${filename ? `; filename="${filename}"` : ""}` : rng.pick(["form-data", "attachment", `form-data; name=${name}`, ""]);
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n\r\n`), data, Buffer.from("\r\n"));
  };
  if (rng.chance(0.9)) part("frame", frameBytes(rng, seeds), "start.png");
  const candidates = batch ? rng.int(0, 4) : rng.chance(0.9) ? 1 : rng.int(0, 3);
  for (let k = 0; k < candidates; k++) part("actions", actionsBytes(rng, seeds, k), "a.npy");
  if (rng.chance(0.5)) part(rng.pick(["num_steps", "seed", "guidance", "output", "jpeg_quality", "deadline_ms", "request_id", "bogus"]), Buffer.from(fieldValue(rng, keys)));
  parts.push(Buffer.from(rng.chance(0.9) ? `--${boundary}--\r\n` : ""));
  let bytes: Buffer = Buffer.concat(parts);
  if (rng.chance(0.15)) bytes = mutateBytes(rng, bytes, 1 << 21);
  const ct = rng.chance(0.95) ? `multipart/form-data; boundary=${boundary}` : rng.pick(["multipart/form-data", "multipart/mixed; boundary=x", "application/json"]);
  return { kind: "multipart", headers: { "content-type": ct }, bytes };
}

/** A predict the server accepts (one shared T for a batch), so the case reaches reserve, the engine and settle. */
function validMultipart(rng: Prng, seeds: Seeds, batch: boolean): Body {
  const boundary = `ok${rng.int(0, 1e9)}`;
  const steps = rng.int(1, STEPS_MAX);
  const part = (name: string, data: Buffer) => [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="x"\r\n\r\n`), data, Buffer.from("\r\n")];
  const candidates = batch ? rng.int(1, 3) : 1;
  const parts = [...part("frame", rng.chance(0.5) ? seeds.png : seeds.jpeg)];
  for (let k = 0; k < candidates; k++) parts.push(...part("actions", seeds.npy(steps, k)));
  if (rng.chance(0.5)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="output"\r\n\r\n${rng.pick(["mp4", "png", "jpeg", "raw"])}\r\n`));
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { kind: "valid", headers: { "content-type": `multipart/form-data; boundary=${boundary}` }, bytes: Buffer.concat(parts) };
}

function fieldValue(rng: Prng, keys: RestKeys): string {
  return rng.pick(["0", "1", "-1", "4", "18446744073709551615", "18446744073709551616", "1e400", "NaN", "abc", "", "mp4", "raw", "png", "jpeg", "gif", keys.other, "9".repeat(2000)]);
}

function jsonBody(rng: Prng, seeds: Seeds, keys: RestKeys): Body {
  const weird = (): unknown => rng.pick<unknown>([null, true, -1, 0, 1.5, 2 ** 64, "x", [], {}, [[[[]]]], keys.other, "18446744073709551615", { a: { b: { c: [1] } } }]);
  const steps = rng.int(1, STEPS_MAX);
  const actions = { data: seeds.npy(steps).subarray(128).toString("base64"), shape: [steps, 384] };
  const tree: Record<string, unknown> = {
    start_frame: { encoding: rng.pick(["PNG", 2, "RAW_RGB8", "JPEG", "GIF", 99]), data: frameBytes(rng, seeds).toString("base64") },
    actions,
    candidates: [actions],
    params: { num_steps: rng.pick([0, 1, 2, 4, -1, 1e9]), seed: rng.pick(["0", "18446744073709551615", "18446744073709551616", -1, 1.5]) },
    amount_usd: rng.pick([5, 25, 0, -5, 1e12, "25", null]),
    request_id: rng.pick([rng.uuid(), "", keys.other, "x".repeat(500)]),
    candidate_indices: [rng.int(-2, 8)],
  };
  for (const field of Object.keys(tree)) if (rng.chance(0.15)) tree[field] = weird();
  if (rng.chance(0.05)) tree["deep"] = JSON.parse("[".repeat(3000) + "]".repeat(3000));
  let text = JSON.stringify(tree);
  if (rng.chance(0.1)) text = text.slice(0, rng.int(0, text.length));
  const bytes = rng.chance(0.1) ? mutateBytes(rng, Buffer.from(text), 1 << 20) : Buffer.from(text);
  return { kind: "json", headers: { "content-type": rng.chance(0.9) ? "application/json" : rng.pick(["text/json", "application/json; charset=latin1", ""]) }, bytes };
}
