// The Galewsky et al. (2004) barotropically unstable jet with mpno's shallow-water solver: the
// relative vorticity at days 0, 2, 4 and 6 as one PNG panel (north up, longitude 0…360° left to right),
// as the published test case shows it (the jet's wave pattern grows from day 4 on).
//
//   npm run build && node scripts/galewsky.mjs [--out galewsky.png] [--days 6] [--nlat 128] [--dtype float32]
//
// Defaults: Gauss–Legendre 128 × 256 grid, T85 (lmax = mmax = 86), dt = 150 s (AB3 needs ω·dt ≲ 0.7 for the
// fastest gravity wave), float32 kernels; about 3 minutes on 2 cores.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { ShallowWaterSolver, releaseSweState } = await import(path.join(root, 'dist/src/data/generators/swe.js'));
const { colorize, colorbar, encodePng, panel, upscale } = await import(path.join(root, 'dist/src/data/formats/png.js'));
const { writeFileAtomic } = await import(path.join(root, 'dist/src/data/formats/atomic.js'));

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : d;
};
const out = opt('--out', 'galewsky.png');
const days = Number(opt('--days', '6'));
const nlat = Number(opt('--nlat', '128'));
const dtype = opt('--dtype', 'float32');
const nlon = 2 * nlat;
const lmax = Math.floor((2 * nlat) / 3) + 1;
const dt = (150 * 128) / nlat;
const solver = new ShallowWaterSolver({ nlat, nlon, dt, lmax, mmax: lmax, grid: 'legendre-gauss', dtype });
const perDay = Math.round(86400 / dt);
let state = solver.galewsky(true);
const mass0 = solver.integrate(solver.grids(state).phi)[0];
const frames = [];
const t0 = performance.now();
for (let day = 0; day <= days; day += 2) {
  if (day > 0) {
    const next = solver.step(state, 2 * perDay);
    releaseSweState(state);
    state = next;
  }
  const g = solver.grids(state);
  const vrt = g.vrt.toFloat64();
  frames.push({ day, vrt, mass: solver.integrate(g.phi)[0] });
  console.log(`day ${day}: max |ζ| ${Math.max(...vrt.map(Math.abs)).toExponential(3)} 1/s, mass drift ${((frames.at(-1).mass - mass0) / mass0).toExponential(2)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}
const vmax = 1.5e-4;
const images = frames.map((f) => {
  const rgba = colorize(f.vrt, nlon, nlat, { cmap: 'diverging', vmin: -vmax, vmax });
  return { ...upscale(rgba, nlon, nlat, 2), title: `day ${f.day}` };
});
images.push({ ...colorbar('diverging', -vmax, vmax, 2 * nlat), title: 'zeta 1/s' });
const img = panel(images);
writeFileAtomic(out, encodePng(img.rgba, img.width, img.height));
console.log(`wrote ${out} (${nlat}×${nlon} Gauss–Legendre, lmax ${lmax}, dt ${dt} s, ${dtype})`);
