// `npm start`: serve gRPC and HTTP on embedded defaults (or DATABASE_URL / REDIS_URL when set).
// SIGTERM/SIGINT drain: stop admitting, finish in-flight work within the grace period, then exit.
import fs from "node:fs";
import path from "node:path";
import { startApp } from "./app/app";
import { ConfigError, loadConfig } from "./config/config";
import { usdToMicros } from "./core/money";
import { missingServerNodeFlags, SERVER_NODE_ARGS } from "./core/node-flags";

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await startApp(config);
  const missing = missingServerNodeFlags();
  if (missing.length > 0) {
    app.logger.warn({ missing, start: ["node", ...SERVER_NODE_ARGS].join(" ") }, "node started without the server's heap flags: under load V8 may run a full GC every ~100 ms on the serving thread (src/core/node-flags.ts)");
  }

  // First boot on embedded defaults: hand the operator a working key with starter credits, once.
  const starterFile = path.join(config.dataDir, "starter-key.txt");
  if (!config.databaseUrl && config.starterCreditsUsd > 0 && (await app.billing.listKeys()).length === 0) {
    const key = await app.billing.createKey({ name: "starter", creditsMicros: usdToMicros(config.starterCreditsUsd) });
    fs.writeFileSync(starterFile, `${key.rawKey}\n`, { mode: 0o600 });
    process.stdout.write(
      `\nStarter API key with $${config.starterCreditsUsd} of credits (saved to ${starterFile}; shown once):\n  export DREAM_API_KEY=${key.rawKey}\n` +
        `More keys: npx dream-engine keys create --name NAME --credits USD (reaches this server over its admin socket)\n\n`,
    );
  } else if (fs.existsSync(starterFile)) {
    process.stdout.write(`\nStarter API key: export DREAM_API_KEY=$(cat ${starterFile})\n\n`);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      app.logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    app.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        app.logger.error({ err: String(err) }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`dream-engine: ${err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
