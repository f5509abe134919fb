// The automatic precision schedule against full precision and the fixed schedule, on the examples'
// datasets and several seeds: final test L2 (every test set, so zero-shot too), wall time, peak RSS and
// the share of epochs each precision ran. Writes results.json, a Markdown table and, per dataset, a
// PNG of the auto runs' measured ratio (precision error / gradient noise) over training.
//   node scripts/auto-schedule-compare.mjs [--datasets darcy64,ns64] [--seeds 0,1,2]
//     [--modes full,full-tanh,fixed,auto] [--out docs/auto-schedule] [--set key=value ...] [--replot]
// --replot draws the plots and the table again from the results.json in --out (no training).
// Modes: full (the example as it is), full-tanh (+ the tanh stabiliser), fixed (tanh, fp16 AMP, the
// schedule half:0.25,mixed:0.5,full:0.25), auto (tanh, fp16 AMP, precision.schedule auto), and
// auto-notanh / fixed-notanh (the same without the stabiliser), auto-notanh-layer (switching by layer),
// fixed-bf16 / auto-bf16 / auto-bf16-layer (bf16, no stabiliser). Runs one
// training at a time (do not run other work beside it: wall times are compared). Needs npm run build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { linePlot } from '../dist/src/data/formats/plot.js';
import { writePng } from '../dist/src/data/formats/png.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const datasets = opt('--datasets', 'darcy64,ns64').split(',');
const seeds = opt('--seeds', '0,1,2').split(',').map(Number);
const modes = opt('--modes', 'full,full-tanh,fixed,auto').split(',');
const out = path.resolve(opt('--out', path.join(root, 'docs', 'auto-schedule')));
const extra = argv.flatMap((a, i) => (a === '--set' ? ['--set', argv[i + 1]] : []));
const MODE_SETS = {
  'full': [],
  'full-tanh': ['model.stabilizer="tanh"'],
  'fixed': ['model.stabilizer="tanh"', 'model.amp=true', 'model.half_type="float16"', 'precision.schedule="half:0.25,mixed:0.5,full:0.25"'],
  'auto': ['model.stabilizer="tanh"', 'model.amp=true', 'model.half_type="float16"', 'precision.schedule="auto"'],
  // without the stabiliser: does fp16 need it here?
  'auto-notanh': ['model.amp=true', 'model.half_type="float16"', 'precision.schedule="auto"'],
  'fixed-notanh': ['model.amp=true', 'model.half_type="float16"', 'precision.schedule="half:0.25,mixed:0.5,full:0.25"'],
  // switching each Fourier layer on its own (precision.switch_by "layer")
  'auto-notanh-layer': ['model.amp=true', 'model.half_type="float16"', 'precision.schedule="auto"', 'precision.switch_by="layer"'],
  // bf16 (8 significant bits against fp16's 11; no overflow, so no stabiliser and no loss scaling)
  'fixed-bf16': ['model.amp=true', 'model.half_type="bfloat16"', 'precision.schedule="half:0.25,mixed:0.5,full:0.25"'],
  'auto-bf16': ['model.amp=true', 'model.half_type="bfloat16"', 'precision.schedule="auto"'],
  'auto-bf16-layer': ['model.amp=true', 'model.half_type="bfloat16"', 'precision.schedule="auto"', 'precision.switch_by="layer"'],
};
for (const m of modes) if (!MODE_SETS[m]) throw new Error(`auto-schedule-compare: unknown mode '${m}' (${Object.keys(MODE_SETS).join(', ')})`);
mkdirSync(out, { recursive: true });
const work = mkdtempSync(path.join(tmpdir(), 'mpno-auto-compare-'));
const replot = argv.includes('--replot');
const results = replot ? JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) : [];
const thresholdSet = extra.find((a) => a.startsWith('precision.switch_threshold='));
const threshold = thresholdSet ? Number(thresholdSet.split('=')[1]) : 0.1;
const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

try {
  for (const d of datasets) {
    const config = path.join(root, 'examples', `${d}.json`);
    if (!existsSync(config)) throw new Error(`auto-schedule-compare: no example ${config}`);
    for (const seed of replot ? [] : seeds) {
      for (const mode of modes) {
        const run = path.join(work, `${d}-${mode}-${seed}`);
        const args = [path.join(root, 'bin', 'mpno.js'), 'train', '--config', config, '--out', run, '--quiet',
          '--set', `training.seed=${seed}`, ...MODE_SETS[mode].flatMap((s) => ['--set', s]), ...extra];
        const t0 = performance.now();
        const r = timeBin
          ? spawnSync(timeBin, ['-f', 'MAXRSS_KB %M', process.execPath, ...args], { encoding: 'utf8', cwd: root })
          : spawnSync(process.execPath, args, { encoding: 'utf8', cwd: root });
        const wall = (performance.now() - t0) / 1000;
        if (r.status !== 0) throw new Error(`${d} ${mode} seed ${seed}: mpno train failed:\n${r.stderr}`);
        const rss = Number(/MAXRSS_KB (\d+)/.exec(r.stderr)?.[1] ?? NaN) / 1024;
        const recs = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        const last = [...recs].reverse().find((x) => x.eval)?.eval ?? {};
        const share = { half: 0, mixed: 0, full: 0 };
        for (const x of recs) {
          const p = x.precision ?? ['full'];
          for (const l of p) share[l] += 1 / p.length / recs.length;
        }
        const probes = recs.flatMap((x) => (x.probes ?? []).map((p) => ({ ...p, epoch: x.epoch })));
        const switches = recs.flatMap((x) => (x.events ?? []).filter((e) => /^(layer \d+ )?precision \w+ \(automatic schedule( by layer)?\) from epoch \d+, step/.test(e)));
        const row = { dataset: d, mode, seed, eval: last, wall_s: wall, peak_rss_mb: rss, share, probes, switches };
        results.push(row);
        console.log(`${d} ${mode} seed ${seed}: ${Object.entries(last).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' ')}  ${wall.toFixed(1)} s  RSS ${rss.toFixed(0)} MB  half/mixed/full ${share.half.toFixed(2)}/${share.mixed.toFixed(2)}/${share.full.toFixed(2)}${switches.length ? `  switches: ${switches.length}` : ''}`);
        writeFileSync(path.join(out, 'results.json'), JSON.stringify(results, null, 1));
      }
    }
    // the auto runs' ratios over training, one series per seed
    const autos = results.filter((x) => x.dataset === d && x.mode.startsWith('auto') && modes.includes(x.mode));
    if (autos.length) {
      const colors = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127]];
      const cfg = JSON.parse(readFileSync(config, 'utf8'));
      const steps = Math.ceil((cfg.data.n_train ?? cfg.data.generate.train.n) / cfg.data.batch_size);
      if (!autos.some((a) => a.probes.length)) continue;
      const img = linePlot({
        title: `${d}: precision error / gradient noise (auto)`,
        xLabel: 'epochs trained', yLabel: 'ratio', logY: true,
        hlines: [{ y: threshold, label: `threshold ${threshold}` }],
        // whole-model runs: one series per seed; by layer: one per layer, of the first seed only
        series: autos.flatMap((a) => {
          const layers = [...new Set(a.probes.map((p) => p.layer).filter((l) => l !== undefined))];
          if (!layers.length) return [{ label: `${a.mode} seed ${a.seed}`, points: a.probes }];
          if (a.seed !== autos.find((b) => b.mode === a.mode).seed) return [];
          return layers.map((l) => ({ label: `${a.mode} seed ${a.seed} layer ${l}`, points: a.probes.filter((p) => p.layer === l) }));
        }).map((x, i) => ({ label: x.label, color: colors[i % colors.length], points: x.points.map((p) => [p.epoch + (p.step + 1) / steps, p.ratio]) })),
      });
      writePng(path.join(out, `${d}-auto-ratio.png`), img.rgba, img.width, img.height);
    }
  }
  // the table: means over seeds
  const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
  const lines = ['| dataset | mode | ' + 'test L2 (mean over seeds) | wall s | peak RSS MB | epochs half / mixed / full |', '|---|---|---|---|---|---|'];
  for (const d of datasets) {
    for (const mode of modes) {
      const rs = results.filter((x) => x.dataset === d && x.mode === mode);
      if (!rs.length) continue;
      const keys = Object.keys(rs[0].eval).filter((k) => k.endsWith('_l2'));
      const l2 = keys.map((k) => `${k.replace(/_l2$/, '')}: ${mean(rs.map((x) => x.eval[k])).toFixed(4)} (${rs.map((x) => x.eval[k].toFixed(4)).join(', ')})`).join('; ');
      const sh = ['half', 'mixed', 'full'].map((p) => mean(rs.map((x) => x.share[p])).toFixed(2)).join(' / ');
      lines.push(`| ${d} | ${mode} | ${l2} | ${mean(rs.map((x) => x.wall_s)).toFixed(1)} | ${mean(rs.map((x) => x.peak_rss_mb)).toFixed(0)} | ${sh} |`);
    }
  }
  writeFileSync(path.join(out, 'results.md'), `${lines.join('\n')}\n`);
  console.log(`\n${lines.join('\n')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
