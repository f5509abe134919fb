// Builds the AssemblyScript kernels (src/kernels/wasm/index.ts) into dist/wasm: mpno.wasm (SIMD) and
// mpno-relaxed.wasm (SIMD + relaxed SIMD: fused multiply-add in the GEMM). src/kernels/module.ts loads the
// relaxed build where the engine accepts it and falls back to the plain one.
// One module holds every kernel so that all threads instantiate it over one shared memory.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'wasm');
mkdirSync(out, { recursive: true });
const asc = path.join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
const builds = [
  { name: 'mpno', features: ['simd'] },
  { name: 'mpno-relaxed', features: ['simd', 'relaxed-simd'] },
];
for (const b of builds) {
  const args = [
    asc, 'src/kernels/wasm/index.ts',
    '-o', `dist/wasm/${b.name}.wasm`, '-t', `dist/wasm/${b.name}.wat`,
    '-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=',
    ...b.features.flatMap((f) => ['--enable', f]), '--enable', 'threads',
    '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
    // keeps the name section (function names in --cpu-prof profiles); the code is the same as without it
    '--debug',
  ];
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build-wasm: asc failed for ${b.name}.wasm with status ${String(r.status)}`);
    process.exit(1);
  }
}
