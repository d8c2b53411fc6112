#!/usr/bin/env node
// Operator CLI entry point (`npx dream-engine …`): a plain JS shim that runs src/cli.ts through tsx,
// so the CLI needs no build step.
require("tsx/cjs");
require("../src/cli.ts");
