import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// The layers of DEVELOPERS' guide, bottom to top: a module may import its own layer and those below.
const LAYERS = ['types', 'core', 'kernels', 'fft', 'autograd', 'precision', 'nn', 'models', 'optim', 'losses', 'data', 'train', 'cli', 'web'];
const src = fileURLToPath(new URL('../../src/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) return n === 'wasm' ? [] : files(p);
    return n.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(file: string): number {
  const rel = path.relative(src, file).split(path.sep);
  if (rel.length === 1) return LAYERS.length; // src/index.ts: the public entry, above everything
  const i = LAYERS.indexOf(rel[0]!);
  assert.ok(i >= 0, `${file} is not in a known layer (${LAYERS.join(', ')})`);
  return i;
}

describe('architecture', () => {
  it('imports go down the layer list, never up', () => {
    const bad: string[] = [];
    for (const f of files(src)) {
      const own = layerOf(f);
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:import|export)[^'"]*from\s+'(\.[^']+)'/g)) {
        const target = path.resolve(path.dirname(f), m[1]!.replace(/\.js$/, '.ts'));
        if (!target.startsWith(src)) continue; // bench/ and package files sit outside the layers
        if (layerOf(target) > own) bad.push(`${path.relative(src, f)} imports ${path.relative(src, target)}`);
      }
    }
    assert.deepEqual(bad, []);
  });
});
