// Container probe of GET /healthz, for Docker's HEALTHCHECK, compose and Kubernetes exec probes.
//
//   node deploy/healthcheck.mjs ready [timeoutMs]   exit 0 only on 200: every enabled model warm, the
//                                                   ledger and the balance store answering, not draining
//   node deploy/healthcheck.mjs live  [timeoutMs]   exit 0 whenever the server answers {"live": true},
//                                                   whatever the status: a 503 while Redis or Postgres is
//                                                   down, while models warm or while draining is still a
//                                                   live process, and restarting it would fix nothing
//
// The port comes from DREAM_HTTP_ADDR like the server's; a wildcard bind host is probed on loopback.
// Plain node:http, no dependencies: it runs in the runtime images as they are.
import http from "node:http";

const mode = process.argv[2] ?? "ready";
const timeoutMs = Number(process.argv[3] ?? 4000);
if (mode !== "ready" && mode !== "live") {
  process.stderr.write(`usage: healthcheck.mjs ready|live [timeoutMs], got ${JSON.stringify(mode)}\n`);
  process.exit(2);
}
const addr = process.env.DREAM_HTTP_ADDR || "127.0.0.1:8080";
const cut = addr.lastIndexOf(":");
const bindHost = addr.slice(0, cut).replace(/^\[|\]$/g, "");
const host = bindHost === "" || bindHost === "0.0.0.0" || bindHost === "::" ? "127.0.0.1" : bindHost;
const port = Number(addr.slice(cut + 1));

const fail = (why) => {
  process.stderr.write(`healthz ${mode}: ${why}\n`);
  process.exit(1);
};

const req = http.get({ host, port, path: "/healthz", timeout: timeoutMs }, (res) => {
  let body = "";
  res.setEncoding("utf8");
  res.on("data", (chunk) => {
    if (body.length < 65536) body += chunk;
  });
  res.on("end", () => {
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch {
      fail(`status ${res.statusCode}, body is not JSON`);
    }
    if (mode === "live") {
      if (parsed && parsed.live === true) process.exit(0);
      fail(`status ${res.statusCode}, live is not true`);
    }
    if (res.statusCode === 200 && parsed && parsed.ready === true) process.exit(0);
    fail(`status ${res.statusCode} ${parsed && parsed.status}; checks ${JSON.stringify(parsed && parsed.checks)}`);
  });
});
req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
req.on("error", (err) => fail(err.message));
