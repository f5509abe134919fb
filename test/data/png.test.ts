import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pngjs from 'pngjs';
import {
  colorbar, colorize, colormapTable, tickLabel, decodePng, encodePng, ImageError, NAN_COLOR, panel, readPng, titleBandHeight,
  titleWidth, TITLE_CHARS, upscale, writePng, type Colormap, type RgbaImage, stackRows,
} from '../../src/data/formats/png.js';

const dir = mkdtempSync(join(tmpdir(), 'mpno-png-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Relative luminance of an 8-bit sRGB colour (computed independently of the module). */
function lum(r: number, g: number, b: number): number {
  const lin = (c: number): number => {
    const u = c / 255;
    return u <= 0.04045 ? u / 12.92 : Math.pow((u + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

function entry(table: Uint8Array, i: number): number[] {
  return [...table.subarray(i * 3, i * 3 + 3)];
}

function pixel(rgba: Uint8Array, width: number, x: number, y: number): number[] {
  const o = (y * width + x) * 4;
  return [...rgba.subarray(o, o + 4)];
}

/** A deterministic pseudo-random image. */
function noise(width: number, height: number, seed: number, opaque: boolean): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = opaque && i % 4 === 3 ? 255 : s >>> 24;
  }
  return out;
}

function solid(width: number, height: number, rgb: [number, number, number]): RgbaImage {
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) rgba.set([...rgb, 255], p * 4);
  return { rgba, width, height };
}

function throwsImage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ImageError, `expected an ImageError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('colour maps', () => {
  it('viridis runs from dark violet to yellow over 256 entries', () => {
    const t = colormapTable('viridis');
    assert.equal(t.length, 256 * 3);
    assert.deepEqual(entry(t, 0), [68, 1, 84]);
    assert.deepEqual(entry(t, 255), [253, 231, 37]);
    // Mid-range is the teal-green of viridis (matplotlib's entry 128 is about (33, 145, 140)).
    const mid = entry(t, 128);
    for (const [c, want] of [[0, 33], [1, 145], [2, 140]] as const) assert.ok(Math.abs(mid[c]! - want) <= 3, `mid ${mid}`);
  });

  it('viridis luminance rises strictly from entry to entry', () => {
    const t = colormapTable('viridis');
    for (let i = 1; i < 256; i++) {
      const a = lum(...(entry(t, i - 1) as [number, number, number]));
      const b = lum(...(entry(t, i) as [number, number, number]));
      assert.ok(b > a, `luminance falls or stalls at entry ${i}: ${entry(t, i - 1)} -> ${entry(t, i)}`);
    }
    // And by a wide margin overall: from near black to light.
    assert.ok(lum(68, 1, 84) < 0.03 && lum(253, 231, 37) > 0.75);
  });

  it('diverging is white in the middle, blue below and red above, symmetric in luminance', () => {
    const t = colormapTable('diverging');
    assert.equal(t.length % 6, 3, 'an odd number of entries, so that there is a centre entry');
    const n = t.length / 3;
    const c = (n - 1) / 2;
    assert.deepEqual(entry(t, c), [255, 255, 255]);
    const [br, , bb] = entry(t, 0);
    const [rr, , rb] = entry(t, n - 1);
    assert.ok(bb! > br! + 100, `low end is blue: ${entry(t, 0)}`);
    assert.ok(rr! > rb! + 100, `high end is red: ${entry(t, n - 1)}`);
    let prevLo = 1;
    let prevHi = 1;
    for (let k = 1; k <= c; k++) {
      const lo = entry(t, c - k);
      const hi = entry(t, c + k);
      assert.ok(lo[2]! >= lo[0]!, `entry ${c - k} is bluish: ${lo}`);
      assert.ok(hi[0]! >= hi[2]!, `entry ${c + k} is reddish: ${hi}`);
      const yl = lum(lo[0]!, lo[1]!, lo[2]!);
      const yh = lum(hi[0]!, hi[1]!, hi[2]!);
      assert.ok(Math.abs(yl - yh) < 0.04, `luminance at ±${k}: ${yl} vs ${yh}`);
      assert.ok(yl < prevLo && yh < prevHi, `luminance falls away from the centre (step ${k})`);
      prevLo = yl;
      prevHi = yh;
    }
  });

  it('returns copies, so callers cannot corrupt the maps', () => {
    const t = colormapTable('viridis');
    t.fill(0);
    assert.deepEqual(entry(colormapTable('viridis'), 0), [68, 1, 84]);
  });
});

describe('colorize', () => {
  const viridis = colormapTable('viridis');
  const diverging = colormapTable('diverging');
  const rgbOf = (table: Uint8Array, i: number): number[] => [...entry(table, i), 255];

  it('maps vmin..vmax linearly onto the table and clamps outside it', () => {
    const vmin = -2;
    const vmax = 3;
    const ks = [0, 1, 17, 100, 128, 200, 254, 255];
    const vals = [...ks.map((k) => vmin + ((vmax - vmin) * k) / 255), -50, vmax + 1e-9, 1e300, -Infinity, Infinity];
    const out = colorize(Float64Array.from(vals), vals.length, 1, { cmap: 'viridis', vmin, vmax });
    assert.equal(out.length, vals.length * 4);
    ks.forEach((k, i) => assert.deepEqual(pixel(out, vals.length, i, 0), rgbOf(viridis, k), `value for entry ${k}`));
    const n = ks.length;
    assert.deepEqual(pixel(out, vals.length, n, 0), rgbOf(viridis, 0), 'below vmin');
    assert.deepEqual(pixel(out, vals.length, n + 1, 0), rgbOf(viridis, 255), 'above vmax');
    assert.deepEqual(pixel(out, vals.length, n + 2, 0), rgbOf(viridis, 255), 'huge');
    assert.deepEqual(pixel(out, vals.length, n + 3, 0), rgbOf(viridis, 0), '-Infinity');
    assert.deepEqual(pixel(out, vals.length, n + 4, 0), rgbOf(viridis, 255), '+Infinity');
  });

  it('defaults to the data range (finite values only) and keeps row-major order', () => {
    // 3 wide, 2 high: row 0 = 10, 11, 12; row 1 = 13, 14, Infinity.
    const vals = Float32Array.from([10, 11, 12, 13, 14, Infinity]);
    const out = colorize(vals, 3, 2, { cmap: 'viridis' });
    assert.deepEqual(pixel(out, 3, 0, 0), rgbOf(viridis, 0));
    assert.deepEqual(pixel(out, 3, 1, 0), rgbOf(viridis, Math.round(255 / 4)));
    assert.deepEqual(pixel(out, 3, 0, 1), rgbOf(viridis, Math.round((3 * 255) / 4)));
    assert.deepEqual(pixel(out, 3, 1, 1), rgbOf(viridis, 255));
    assert.deepEqual(pixel(out, 3, 2, 1), rgbOf(viridis, 255));
    // Giving only one limit keeps the data's other limit.
    const lo = colorize(vals, 3, 2, { cmap: 'viridis', vmax: 12 });
    assert.deepEqual(pixel(lo, 3, 1, 0), rgbOf(viridis, 128));
    assert.deepEqual(pixel(lo, 3, 1, 1), rgbOf(viridis, 255));
  });

  it('diverging defaults to ±max|v|, so zero is white', () => {
    const vals = Float64Array.from([-0.5, 0, 2, -2]);
    const out = colorize(vals, 4, 1, { cmap: 'diverging' });
    assert.deepEqual(pixel(out, 4, 1, 0), [255, 255, 255, 255]);
    assert.deepEqual(pixel(out, 4, 2, 0), rgbOf(diverging, 256));
    assert.deepEqual(pixel(out, 4, 3, 0), rgbOf(diverging, 0));
    assert.deepEqual(pixel(out, 4, 0, 0), rgbOf(diverging, 96)); // (-0.5 + 2) / 4 * 256
    // v and -v get mirrored entries.
    const sym = colorize(Float64Array.from([-0.3, 0.3, 1]), 3, 1, { cmap: 'diverging' });
    assert.deepEqual(pixel(sym, 3, 0, 0), rgbOf(diverging, 128 - Math.round(0.3 * 128)));
    assert.deepEqual(pixel(sym, 3, 1, 0), rgbOf(diverging, 128 + Math.round(0.3 * 128)));
    // Explicit limits move the centre.
    const shifted = colorize(Float64Array.from([1]), 1, 1, { cmap: 'diverging', vmin: 0, vmax: 2 });
    assert.deepEqual(pixel(shifted, 1, 0, 0), [255, 255, 255, 255]);
  });

  it('paints NaN a fixed grey, whatever the map and range', () => {
    for (const cmap of ['viridis', 'diverging'] as const) {
      const out = colorize(Float64Array.from([NaN, 0, 1]), 3, 1, { cmap });
      assert.deepEqual(pixel(out, 3, 0, 0), [...NAN_COLOR, 255]);
      assert.notDeepEqual(pixel(out, 3, 1, 0), [...NAN_COLOR, 255]);
    }
    const allNan = colorize(new Float32Array(4).fill(NaN), 2, 2, { cmap: 'viridis' });
    for (let p = 0; p < 4; p++) assert.deepEqual(pixel(allNan, 2, p % 2, p >> 1), [...NAN_COLOR, 255]);
  });

  it('gives a constant field the centre colour', () => {
    const v = colorize(new Float64Array(3).fill(7), 3, 1, { cmap: 'viridis' });
    assert.deepEqual(pixel(v, 3, 2, 0), rgbOf(viridis, 128));
    const d = colorize(new Float64Array(3), 3, 1, { cmap: 'diverging' });
    assert.deepEqual(pixel(d, 3, 0, 0), [255, 255, 255, 255]);
  });

  it('names the problem with bad input', () => {
    const v = new Float64Array(6);
    throwsImage(() => colorize(v, 4, 2, { cmap: 'viridis' }), /values has length 6, expected width\*height = 4\*2 = 8/);
    throwsImage(() => colorize(new Float64Array(0), 0, 1, { cmap: 'viridis' }), /width must be a positive integer, got 0/);
    throwsImage(() => colorize(v, 6, -1, { cmap: 'viridis' }), /height must be a positive integer, got -1/);
    throwsImage(() => colorize(v, 1.5, 4, { cmap: 'viridis' }), /width must be a positive integer, got 1.5/);
    throwsImage(() => colorize(v, 3, 2, { cmap: 'viridis', vmin: 1, vmax: 1 }), /vmin \(1\) must be less than vmax \(1\)/);
    throwsImage(() => colorize(v, 3, 2, { cmap: 'viridis', vmin: 2, vmax: 1 }), /vmin \(2\) must be less than vmax \(1\)/);
    throwsImage(() => colorize(v, 3, 2, { cmap: 'viridis', vmin: 5 }), /vmin \(5\) must be less than vmax \(0 \(from the data\)\)/);
    throwsImage(() => colorize(v, 3, 2, { cmap: 'viridis', vmax: NaN }), /vmax must be a finite number, got NaN/);
    throwsImage(() => colorize(v, 3, 2, { cmap: 'jet' as Colormap }), /unknown colour map "jet"/);
    throwsImage(() => colormapTable('hot' as Colormap), /unknown colour map "hot"/);
    throwsImage(() => colorize([1, 2] as unknown as Float64Array, 2, 1, { cmap: 'viridis' }), /Float64Array or Float32Array/);
  });
});

describe('upscale', () => {
  it('turns each pixel into a factor×factor block', () => {
    const src = noise(3, 2, 7, false);
    const up = upscale(src, 3, 2, 4);
    assert.equal(up.width, 12);
    assert.equal(up.height, 8);
    assert.equal(up.rgba.length, 12 * 8 * 4);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 12; x++) {
        assert.deepEqual(pixel(up.rgba, 12, x, y), pixel(src, 3, Math.floor(x / 4), Math.floor(y / 4)), `(${x}, ${y})`);
      }
    }
    const same = upscale(src, 3, 2, 1);
    assert.deepEqual(same.rgba, src);
    assert.notEqual(same.rgba, src, 'a copy, not the input');
  });

  it('rejects a bad factor or a mismatched buffer', () => {
    const src = noise(2, 2, 1, true);
    throwsImage(() => upscale(src, 2, 2, 0), /factor must be a positive integer, got 0/);
    throwsImage(() => upscale(src, 2, 2, 2.5), /factor must be a positive integer, got 2.5/);
    throwsImage(() => upscale(src, 3, 2, 2), /rgba has 16 bytes, expected width\*height\*4 = 3\*2\*4 = 24/);
  });
});

describe('panel', () => {
  const red = solid(3, 4, [255, 0, 0]);
  const green = solid(5, 2, [0, 255, 0]);
  const blue = solid(2, 3, [0, 0, 255]);

  it('lays images side by side, top-aligned, gap pixels apart', () => {
    const p = panel([red, green, blue], { gap: 2, background: [10, 20, 30] });
    assert.equal(p.width, 3 + 5 + 2 + 2 * 2);
    assert.equal(p.height, 4);
    assert.equal(p.rgba.length, p.width * p.height * 4);
    const bg = [10, 20, 30, 255];
    const expectAt = (x: number, y: number): number[] => {
      if (x < 3) return [255, 0, 0, 255];
      if (x < 5) return bg;
      if (x < 10) return y < 2 ? [0, 255, 0, 255] : bg;
      if (x < 12) return bg;
      return y < 3 ? [0, 0, 255, 255] : bg;
    };
    for (let y = 0; y < p.height; y++) for (let x = 0; x < p.width; x++) assert.deepEqual(pixel(p.rgba, p.width, x, y), expectAt(x, y), `(${x}, ${y})`);
    const tight = panel([red, green], { gap: 0 });
    assert.equal(tight.width, 8);
    const dflt = panel([red, green]);
    assert.equal(dflt.width, 8 + 4, 'default gap 4');
    assert.deepEqual(pixel(dflt.rgba, dflt.width, 4, 0), [255, 255, 255, 255], 'default background white');
  });

  it('adds a title band and draws titles in a contrasting ink inside their own column', () => {
    const wide = solid(40, 6, [0, 0, 255]);
    for (const scale of [1, 2]) {
      const p = panel([{ ...wide, title: 'error' }, { ...green, title: '' }, wide], { gap: 3, fontScale: scale });
      const band = titleBandHeight(scale);
      assert.equal(band, 12 * scale);
      assert.equal(p.width, 40 + 5 + 40 + 6);
      assert.equal(p.height, 6 + band);
      // The images sit below the band.
      assert.deepEqual(pixel(p.rgba, p.width, 0, band), [0, 0, 255, 255]);
      assert.deepEqual(pixel(p.rgba, p.width, 43, band), [0, 255, 0, 255]);
      let inkFirst = 0;
      for (let y = 0; y < band; y++) {
        for (let x = 0; x < p.width; x++) {
          const px = pixel(p.rgba, p.width, x, y);
          if (px[0] === 0 && px[1] === 0 && px[2] === 0) {
            assert.ok(x < 40, `ink only above the titled image, found at (${x}, ${y})`);
            inkFirst++;
          } else {
            assert.deepEqual(px, [255, 255, 255, 255], `(${x}, ${y})`);
          }
        }
      }
      assert.ok(inkFirst >= 10 * scale * scale, `the title is drawn (${inkFirst} ink pixels)`);
    }
    // Dark background: white ink.
    const dark = panel([{ ...wide, title: 'truth' }], { background: [20, 20, 20] });
    assert.ok(dark.rgba.some((v, i) => i % 4 === 0 && v === 255 && dark.rgba[i + 1] === 255));
  });

  it('centres a title and clips one that is too long to its image', () => {
    const img = solid(30, 2, [0, 0, 0]);
    const p = panel([{ ...img, title: 'i' }], { fontScale: 1 });
    const inkCols = new Set<number>();
    for (let y = 0; y < titleBandHeight(1); y++) for (let x = 0; x < 30; x++) if (pixel(p.rgba, 30, x, y)[0] === 0) inkCols.add(x);
    const cols = [...inkCols].sort((a, b) => a - b);
    assert.ok(cols.length > 0);
    const centre = (cols[0]! + cols[cols.length - 1]!) / 2;
    assert.ok(Math.abs(centre - 14.5) <= 1.5, `centred: ink columns ${cols}`);
    assert.equal(titleWidth('i', 1), 5);
    assert.equal(titleWidth('prediction', 2), (10 * 6 - 1) * 2);

    const narrow = solid(8, 2, [0, 0, 255]);
    const q = panel([{ ...narrow, title: 'prediction' }, narrow], { gap: 2, fontScale: 2 });
    for (let y = 0; y < titleBandHeight(2); y++) {
      for (let x = 8; x < q.width; x++) assert.deepEqual(pixel(q.rgba, q.width, x, y), [255, 255, 255, 255], `no overflow at (${x}, ${y})`);
    }
  });

  it('has a distinct glyph for every supported character and draws uppercase as lowercase', () => {
    const img = solid(5, 1, [255, 255, 255]);
    const seen = new Map<string, string>();
    for (const ch of TITLE_CHARS) {
      const p = panel([{ ...img, title: ch }], { fontScale: 1 });
      const key = Array.from({ length: p.width * p.height }, (_, i) => (p.rgba[i * 4] === 0 ? '#' : '.')).join('');
      if (ch !== ' ') assert.ok(key.includes('#'), `glyph for ${JSON.stringify(ch)} is blank`);
      assert.ok(!seen.has(key), `${JSON.stringify(ch)} looks like ${JSON.stringify(seen.get(key))}`);
      seen.set(key, ch);
    }
    for (const ch of 'abcdefghijklmnopqrstuvwxyz0123456789-.:= ') assert.ok(TITLE_CHARS.includes(ch), ch);
    // Descenders hang one row below the baseline of the other letters, inside the band.
    const lowestInk = (ch: string): number => {
      const p = panel([{ ...img, title: ch }], { fontScale: 1 });
      let lowest = -1;
      for (let y = 0; y < p.height; y++) for (let x = 0; x < p.width; x++) if (p.rgba[(y * p.width + x) * 4] === 0) lowest = y;
      return lowest;
    };
    const base = lowestInk('o');
    for (const ch of 'acemnorsuvwxz') assert.equal(lowestInk(ch), base, ch);
    for (const ch of 'gpqy') assert.equal(lowestInk(ch), base + 1, ch);
    assert.ok(base + 1 < titleBandHeight(1) - 1, 'descenders stay clear of the image');
    const upper = panel([{ ...solid(60, 1, [255, 255, 255]), title: 'MaxErr' }]);
    const lower = panel([{ ...solid(60, 1, [255, 255, 255]), title: 'maxerr' }]);
    assert.deepEqual(upper.rgba, lower.rgba);
  });

  it('names the problem with bad input', () => {
    throwsImage(() => panel([]), /at least one image/);
    throwsImage(() => panel([red], { gap: -1 }), /gap must be a non-negative integer, got -1/);
    throwsImage(() => panel([red], { fontScale: 0 }), /fontScale must be a positive integer, got 0/);
    throwsImage(() => panel([red], { background: [0, 300, 0] }), /background must be three integers in 0\.\.255/);
    throwsImage(() => panel([red, { ...green, width: 4 }]), /image 1: rgba has 40 bytes, expected width\*height\*4 = 4\*2\*4 = 32/);
    throwsImage(() => panel([{ ...red, title: 'max|err|' }]), /character the built-in font lacks: "\|"/);
    throwsImage(() => panel([{ ...red, title: 'x', height: 0 }]), /image 0: height must be a positive integer, got 0/);
  });
});

describe('PNG files', () => {
  it('round-trips opaque pixels bit-exactly (stored as RGB)', () => {
    const rgba = noise(37, 23, 42, true);
    const path = join(dir, 'opaque.png');
    writePng(path, rgba, 37, 23);
    const bytes = readFileSync(path);
    assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
    assert.equal(bytes.toString('latin1', 12, 16), 'IHDR');
    assert.equal(bytes.readUInt32BE(16), 37);
    assert.equal(bytes.readUInt32BE(20), 23);
    assert.equal(bytes[24], 8, 'bit depth');
    assert.equal(bytes[25], 2, 'colour type RGB');
    const back = readPng(path);
    assert.equal(back.width, 37);
    assert.equal(back.height, 23);
    assert.deepEqual(back.rgba, rgba);
  });

  it('round-trips translucent pixels bit-exactly (stored as RGBA)', () => {
    const rgba = noise(16, 9, 3, false);
    const path = join(dir, 'alpha.png');
    writePng(path, rgba, 16, 9);
    assert.equal(readFileSync(path)[25], 6, 'colour type RGBA');
    const back = readPng(path);
    assert.deepEqual([back.width, back.height], [16, 9]);
    assert.deepEqual(back.rgba, rgba);
    const mem = decodePng(encodePng(rgba, 16, 9));
    assert.deepEqual(mem.rgba, rgba);
  });

  it('round-trips a colorized, upscaled panel', () => {
    const n = 8;
    const f = Float64Array.from({ length: n * n }, (_, i) => Math.sin(i % n) * Math.cos(Math.floor(i / n)));
    const img = upscale(colorize(f, n, n, { cmap: 'viridis' }), n, n, 4);
    const p = panel([{ ...img, title: 'input' }, { ...img, title: 'truth' }]);
    const path = join(dir, 'panel.png');
    writePng(path, p.rgba, p.width, p.height);
    const back = readPng(path);
    assert.deepEqual([back.width, back.height], [p.width, p.height]);
    assert.deepEqual(back.rgba, p.rgba);
  });

  it('reads other PNG colour types as RGBA', () => {
    const { PNG } = pngjs;
    const png = new PNG({ width: 2, height: 1 });
    png.data = Buffer.from([10, 10, 10, 255, 200, 200, 200, 255]);
    const path = join(dir, 'grey.png');
    writeFileSync(path, PNG.sync.write(png, { colorType: 0, inputColorType: 6 }));
    assert.equal(readFileSync(path)[25], 0, 'colour type grey');
    const back = readPng(path);
    assert.deepEqual([...back.rgba], [10, 10, 10, 255, 200, 200, 200, 255]);
  });

  it('replaces an existing file and leaves no temporary file behind', () => {
    const sub = mkdtempSync(join(dir, 'replace-'));
    const path = join(sub, 'out.png');
    writeFileSync(path, 'old contents');
    const rgba = noise(4, 4, 9, true);
    writePng(path, rgba, 4, 4);
    assert.deepEqual(readdirSync(sub), ['out.png']);
    assert.deepEqual(readPng(path).rgba, rgba);
  });

  it('fails cleanly when the directory is missing', () => {
    const path = join(dir, 'no-such-dir', 'x.png');
    throwsImage(() => writePng(path, noise(2, 2, 1, true), 2, 2), /no-such-dir\/x\.png: could not write the file \(.*ENOENT/);
    assert.equal(existsSync(join(dir, 'no-such-dir')), false);
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temporary file left');
  });

  it('removes its temporary file when the final rename fails', () => {
    const sub = mkdtempSync(join(dir, 'rename-'));
    const target = join(sub, 'taken.png');
    // A non-empty directory where the file should go: the temporary file gets written, the rename fails.
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'x');
    throwsImage(() => writePng(target, noise(3, 3, 2, true), 3, 3), /taken\.png: could not write the file/);
    assert.deepEqual(readdirSync(sub), ['taken.png'], 'no temporary file left');
    assert.deepEqual(readdirSync(target), ['inside']);
  });

  it('leaves an existing file untouched when the input is bad', () => {
    const sub = mkdtempSync(join(dir, 'bad-'));
    const path = join(sub, 'keep.png');
    writeFileSync(path, 'keep me');
    throwsImage(() => writePng(path, new Uint8Array(15), 2, 2), /keep\.png: encodePng: rgba has 15 bytes, expected width\*height\*4 = 2\*2\*4 = 16/);
    throwsImage(() => writePng(path, new Uint8Array(0), 0, 0), /keep\.png: encodePng: width must be a positive integer, got 0/);
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
    assert.deepEqual(readdirSync(sub), ['keep.png']);
  });

  it('names the file when reading fails', () => {
    const missing = join(dir, 'missing.png');
    throwsImage(() => readPng(missing), /missing\.png: could not read the file/);
    const notPng = join(dir, 'not.png');
    writeFileSync(notPng, 'this is not a png');
    throwsImage(() => readPng(notPng), /not\.png: not a readable PNG/);
    const truncated = join(dir, 'truncated.png');
    writeFileSync(truncated, encodePng(noise(8, 8, 5, true), 8, 8).subarray(0, 40));
    throwsImage(() => readPng(truncated), /truncated\.png: not a readable PNG/);
  });
});

describe('colorbar', () => {
  const px = (im: RgbaImage, x: number, y: number) => [...im.rgba.subarray((y * im.width + x) * 4, (y * im.width + x) * 4 + 3)];
  const entry = (cmap: Colormap, i: number) => [...colormapTable(cmap).subarray(i * 3, i * 3 + 3)];

  it('runs from vmax at the top to vmin at the bottom in the colours colorize gives those values', () => {
    const bar = colorbar('viridis', -2, 6, 64);
    assert.equal(bar.height, 64);
    assert.deepEqual(px(bar, 0, 0), entry('viridis', 255));
    assert.deepEqual(px(bar, 0, 63), entry('viridis', 0));
    const mid = colorize(new Float64Array([6 - (8 * 31) / 63]), 1, 1, { cmap: 'viridis', vmin: -2, vmax: 6 });
    assert.deepEqual(px(bar, 2, 31), [...mid.subarray(0, 3)]);
    const div = colorbar('diverging', -1, 1, 33);
    const c = colorize(new Float64Array([1, 0, -1]), 3, 1, { cmap: 'diverging', vmin: -1, vmax: 1 });
    assert.deepEqual(px(div, 0, 0), [...c.subarray(0, 3)]);
    assert.deepEqual(px(div, 0, 16), [...c.subarray(4, 7)]); // the centre row is 0: white
    assert.deepEqual(px(div, 0, 32), [...c.subarray(8, 11)]);
  });

  it('labels max, mid and min beside the strip, and the labels are the values', () => {
    assert.equal(tickLabel(0.125), '0.125');
    assert.equal(tickLabel(2), '2');
    assert.equal(tickLabel(0.5), '0.5');
    assert.equal(tickLabel(-3.5e-5), '-3.5e-5');
    assert.equal(tickLabel(123456), '1.23e+5');
    const a = colorbar('viridis', 0, 2, 64);
    const b = colorbar('viridis', 0, 4, 64);
    const inkRows = (im: RgbaImage) => {
      const rows: number[] = [];
      for (let y = 0; y < im.height; y++) for (let x = 10; x < im.width; x++) if (px(im, x, y)[0] === 0) { rows.push(y); break; }
      return rows;
    };
    const rows = inkRows(a);
    // three labels: at the top, in the middle and at the bottom
    assert.ok(rows.includes(1) && rows.some((y) => y > 24 && y < 40) && rows.some((y) => y > 56), JSON.stringify(rows));
    // max 2 vs 4 and mid 1 vs 2 differ, min 0 is the same: only the upper labels' pixels change
    const diffRows = new Set<number>();
    for (let y = 0; y < 64; y++) for (let x = 0; x < Math.min(a.width, b.width); x++) if (px(a, x, y).join() !== px(b, x, y).join()) diffRows.add(y);
    assert.ok([...diffRows].every((y) => y < 48) && diffRows.size > 0);
    assert.throws(() => colorbar('viridis', 1, 0, 64), /colorbar: needs finite vmin <= vmax/);
    assert.throws(() => colorbar('viridis', 0, 1, 4), /height must be an integer of at least 8/);
    // a constant field: one label, the centre colour
    const flat = colorbar('viridis', 3, 3, 32);
    assert.deepEqual(px(flat, 0, 0), px(flat, 0, 31));
  });
});

describe('stackRows', () => {
  it('stacks images top to bottom, left-aligned, with the background in the gaps and beside narrower images', () => {
    const solid = (w: number, h: number, c: number) => ({ rgba: new Uint8Array(w * h * 4).fill(c), width: w, height: h });
    const img = stackRows([solid(3, 2, 10), solid(2, 1, 20)], 1, [1, 2, 3]);
    assert.equal(img.width, 3);
    assert.equal(img.height, 2 + 1 + 1);
    const at = (x: number, y: number) => Array.from(img.rgba.subarray((y * 3 + x) * 4, (y * 3 + x) * 4 + 4));
    assert.deepEqual(at(2, 1), [10, 10, 10, 10]);
    assert.deepEqual(at(0, 2), [1, 2, 3, 255], 'the gap');
    assert.deepEqual(at(1, 3), [20, 20, 20, 20]);
    assert.deepEqual(at(2, 3), [1, 2, 3, 255], 'beside the narrower image');
    assert.throws(() => stackRows([]), /stackRows: needs at least one image/);
  });
});
