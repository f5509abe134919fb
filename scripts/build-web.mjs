// Builds the browser bundle into web/dist with esbuild: page.js (the page), engine.js (the engine
// worker: models, kernels, FFT/SHT, safetensors and .pt reading) and pool-worker.js (the kernel
// pool's workers). The bundle is the library's own code: src/core/platform-node.ts is replaced by
// src/web/browser/platform-browser.ts, the kernel builds are embedded, and any import of a Node
// built-in fails the build (so nothing Node-only can creep into the inference path).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');

const browserPlatform = {
  name: 'mpno-browser',
  setup(b) {
    b.onResolve({ filter: /platform-node\.js$/ }, () => ({ path: path.join(src, 'web', 'browser', 'platform-browser.ts') }));
    b.onResolve({ filter: /^mpno:kernels$/ }, () => ({ path: 'kernels', namespace: 'mpno-kernels' }));
    b.onLoad({ filter: /.*/, namespace: 'mpno-kernels' }, () => {
      const b64 = (name) => readFileSync(path.join(root, 'dist', 'wasm', `${name}.wasm`)).toString('base64');
      return {
        contents: `const d = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));\nexport const simd = d(${JSON.stringify(b64('mpno'))});\nexport const relaxed = d(${JSON.stringify(b64('mpno-relaxed'))});\n`,
        loader: 'js',
      };
    });
    b.onResolve({ filter: /^node:|^(fs|path|os|url|worker_threads|crypto|v8|child_process)$/ }, (args) => ({
      errors: [{ text: `${args.importer ? path.relative(root, args.importer) : '?'} imports the Node built-in '${args.path}', which the browser build cannot have; put it behind src/core/platform.ts` }],
    }));
  },
};

// TypeScript sources are imported as '.js' (NodeNext); esbuild resolves those to the .ts files
await build({
  absWorkingDir: root,
  entryPoints: {
    page: 'src/web/browser/page.ts',
    engine: 'src/web/browser/engine-worker.ts',
    'pool-worker': 'src/web/browser/pool-worker.ts',
  },
  outdir: 'web/dist',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome114', 'firefox120', 'safari16.4'],
  sourcemap: true,
  minify: false,
  logLevel: 'warning',
  plugins: [browserPlatform],
});
