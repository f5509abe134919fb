// Builds the AssemblyScript kernels (src/kernels/wasm/index.ts) into dist/wasm/mpno.wasm.
// One module holds every kernel so that all threads instantiate it over one shared memory.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'wasm');
mkdirSync(out, { recursive: true });
const asc = path.join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
const args = [
  asc, 'src/kernels/wasm/index.ts',
  '-o', 'dist/wasm/mpno.wasm', '-t', 'dist/wasm/mpno.wat',
  '-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=',
  '--enable', 'simd', '--enable', 'threads',
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
  // keeps the name section (function names in --cpu-prof profiles); the code is the same as without it
  '--debug',
];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-wasm: asc failed with status ' + String(r.status));
  process.exit(1);
}
