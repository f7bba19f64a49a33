#!/usr/bin/env node
// `npx agentauth <command>`: the administration CLI (compiled by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('agentauth: not built yet; run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
