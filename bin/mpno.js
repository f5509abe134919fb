#!/usr/bin/env node
// The mpno command line. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error("mpno: dist/ is missing; run 'npm install' (or 'npm run build') in the mpno package first");
  process.exit(1);
}
let main;
try {
  ({ main } = await import(entry.href));
} catch (e) {
  // the library checks its environment when it loads (MPNO_THREADS): a named error, not a stack trace
  if (e instanceof RangeError && e.message.startsWith('MPNO_THREADS')) {
    console.error(`mpno: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
await main(process.argv);
