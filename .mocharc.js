// Mocha's shared settings. No `spec` here on purpose: mocha ADDS a config's spec to the files named on
// the command line, so `npx mocha test/scheduler/plan.test.ts` would run the whole suite. The file sets
// live in package.json's scripts instead:
//   npm test          every test/**/*.test.ts (what .ci/run calls)
//   npm run test:unit in-process folders only, with REDIS_URL and DATABASE_URL unset so no Redis or
//                     Postgres is touched (billing and rate limits run their in-memory/PGlite halves):
//                     app, core, planning, scheduler, codec, rest, transport, service, observability,
//                     billing, ratelimit, stripe, clients, repo
//   npm run test:e2e  test/e2e (the engine started end to end; uses Redis/Postgres when their URLs are set)
// Left to `npm test` alone: gpu (ORT runner workers), python (the Python SDK), fuzz (a started engine),
// and the two unit-folder files that start one (transport/grpc-decode, clients/packed-client).
// `extension` lets a folder be named: `npx mocha test/ratelimit/`.
module.exports = {
  require: ["tsx/cjs"],
  extension: ["ts"],
  timeout: 120000,
  exit: true,
  reporter: "spec",
};
