#!/usr/bin/env node
// The mpno command line. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error("mpno: dist/ is missing; run 'npm install' (or 'npm run build') in the mpno package first");
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
