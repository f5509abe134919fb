/**
 * Images of 2-D fields as PNG files (what `mpno predict` writes): colour maps, nearest-neighbour
 * upscaling, side-by-side panels with short titles, and PNG read/write (encoding by `pngjs`).
 *
 * Pixels are RGBA, 8 bits a channel, row-major with row 0 at the top, in a `Uint8Array` of
 * `width * height * 4` bytes.
 *
 * Colour maps:
 *  - 'viridis': perceptually uniform, dark violet → blue → green → yellow, lightness increasing.
 *    The 256-entry table is interpolated linearly (in sRGB) between 17 anchor colours, which are
 *    published viridis colour map values (the matplotlib/van der Walt–Smith table, sampled every
 *    16th entry and rounded to 8 bits); the table is within a few 8-bit steps of the original.
 *  - 'diverging': blue → white → red, after Moreland's cool-warm map but with a pure white centre;
 *    the blue and red halves are matched in luminance, so equal |v| reads as equal strength. Its
 *    table has an odd number of entries (257) so that the centre of the range lands exactly on white.
 */
import { writeFileAtomic } from './atomic.js';
import { readFileSync } from 'node:fs';
import pngjs from 'pngjs';

const { PNG } = pngjs;

/** Every problem with image input or an image file; the message names the fault (and the file). */
export class ImageError extends Error {
  override name = 'ImageError';
}

export type Colormap = 'viridis' | 'diverging';

export interface ColorizeOptions {
  cmap: Colormap;
  /** Value mapped to the low end of the map (default: the smallest finite value; 'diverging': -max|v|). */
  vmin?: number;
  /** Value mapped to the high end of the map (default: the largest finite value; 'diverging': +max|v|). */
  vmax?: number;
}

/** An RGBA image. */
export interface RgbaImage {
  rgba: Uint8Array;
  width: number;
  height: number;
}

export interface PanelImage extends RgbaImage {
  /** A short label drawn above the image (letters, digits, space and `- . : = + , ( ) / _`). */
  title?: string;
}

export interface PanelOptions {
  /** Pixels between neighbouring images (default 4). */
  gap?: number;
  /** Background colour of gaps, the title band and below shorter images (default white). */
  background?: [number, number, number];
  /** Integer magnification of the 5×7 title font (default 2). */
  fontScale?: number;
}

/** Images stacked top to bottom, left-aligned, `gap` background pixels apart (default 4, white). */
export function stackRows(images: RgbaImage[], gap = 4, background: [number, number, number] = [255, 255, 255]): RgbaImage {
  if (images.length === 0) throw new ImageError('stackRows: needs at least one image');
  const width = Math.max(...images.map((im) => im.width));
  const height = images.reduce((s, im) => s + im.height, 0) + gap * (images.length - 1);
  const out = new Uint8Array(width * height * 4);
  // the background as one RGBA word per pixel (byte order as stored: R first)
  new Uint32Array(out.buffer).fill(new Uint32Array(Uint8Array.from([...background, 255]).buffer)[0]!);
  let y0 = 0;
  images.forEach((im, i) => {
    checkRgba(`stackRows: image ${i}`, im.rgba, im.width, im.height);
    for (let y = 0; y < im.height; y++) out.set(im.rgba.subarray(y * im.width * 4, (y + 1) * im.width * 4), (y0 + y) * width * 4);
    y0 += im.height + gap;
  });
  return { rgba: out, width, height };
}

/** The colour given to NaN values. */
export const NAN_COLOR: readonly [number, number, number] = [128, 128, 128];

/** [position 0..255 in the matplotlib table, r, g, b] */
const VIRIDIS_ANCHORS: readonly (readonly [number, number, number, number])[] = [
  [0, 68, 1, 84], [16, 72, 24, 106], [32, 71, 45, 123], [48, 66, 64, 134],
  [64, 59, 82, 139], [80, 51, 99, 141], [96, 44, 114, 142], [112, 38, 130, 142],
  [128, 33, 145, 140], [143, 31, 159, 136], [159, 39, 173, 129], [175, 61, 188, 116],
  [191, 92, 200, 99], [207, 129, 211, 77], [223, 170, 220, 50], [239, 213, 226, 26],
  [255, 253, 231, 37],
];

/** [position 0..256, r, g, b]; the two halves mirror each other in luminance. */
const DIVERGING_ANCHORS: readonly (readonly [number, number, number, number])[] = [
  [0, 59, 76, 192], [64, 141, 176, 254], [128, 255, 255, 255], [192, 244, 154, 123], [256, 180, 4, 38],
];

/** Relative luminance (0..1) of an 8-bit sRGB colour. */
function luminance(r: number, g: number, b: number): number {
  const lin = (c: number): number => {
    const u = c / 255;
    return u <= 0.04045 ? u / 12.92 : ((u + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/**
 * Interpolates anchors linearly into a table of RGB triples. With `increasing`, each entry is
 * rounded (each channel up or down, whichever of the eight choices lies nearest the exact colour)
 * so that luminance rises strictly from entry to entry; plain rounding would leave 8-bit plateaus.
 */
function buildTable(anchors: readonly (readonly [number, number, number, number])[], increasing = false): Uint8Array {
  const last = anchors[anchors.length - 1]!;
  const n = last[0] + 1;
  const table = new Uint8Array(n * 3);
  let prevY = -1;
  for (let k = 0; k + 1 < anchors.length; k++) {
    const a = anchors[k]!;
    const b = anchors[k + 1]!;
    for (let i = k === 0 ? a[0] : a[0] + 1; i <= b[0]; i++) {
      const f = (i - a[0]) / (b[0] - a[0]);
      const exact = [1, 2, 3].map((c) => a[c]! + (b[c]! - a[c]!) * f);
      let best = exact.map(Math.round);
      if (increasing) {
        let bestD = Infinity;
        for (let m = 0; m < 8; m++) {
          const cand = exact.map((v, c) => ((m >> c) & 1 ? Math.ceil(v) : Math.floor(v)));
          const d = cand.reduce((s, v, c) => s + (v - exact[c]!) ** 2, 0);
          if (luminance(cand[0]!, cand[1]!, cand[2]!) > prevY && d < bestD) {
            best = cand;
            bestD = d;
          }
        }
        prevY = luminance(best[0]!, best[1]!, best[2]!);
      }
      table.set(best, i * 3);
    }
  }
  return table;
}

const TABLES: Record<Colormap, Uint8Array> = {
  viridis: buildTable(VIRIDIS_ANCHORS, true),
  diverging: buildTable(DIVERGING_ANCHORS),
};

function checkCmap(cmap: unknown): Colormap {
  if (cmap !== 'viridis' && cmap !== 'diverging') {
    throw new ImageError(`unknown colour map ${JSON.stringify(cmap)} (expected 'viridis' or 'diverging')`);
  }
  return cmap;
}

/** A copy of a colour map's table: RGB triples, low end first (256 entries for viridis, 257 for diverging). */
export function colormapTable(cmap: Colormap): Uint8Array {
  return TABLES[checkCmap(cmap)].slice();
}

function checkSize(what: string, width: number, height: number): void {
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new ImageError(`${what}: ${name} must be a positive integer, got ${v}`);
  }
}

function checkRgba(what: string, rgba: Uint8Array, width: number, height: number): void {
  checkSize(what, width, height);
  if (!(rgba instanceof Uint8Array)) throw new ImageError(`${what}: rgba must be a Uint8Array`);
  if (rgba.length !== width * height * 4) {
    throw new ImageError(`${what}: rgba has ${rgba.length} bytes, expected width*height*4 = ${width}*${height}*4 = ${width * height * 4}`);
  }
}

/**
 * Maps a row-major field (row 0 at the top) to RGBA through a colour map. Values outside
 * [vmin, vmax] are clamped to the ends of the map, NaN becomes {@link NAN_COLOR}, ±Infinity clamps.
 * Default limits ignore non-finite values; a field with a single distinct value gets the map's
 * centre colour. Alpha is 255 everywhere.
 */
export function colorize(values: Float64Array | Float32Array, width: number, height: number, opts: ColorizeOptions): Uint8Array {
  checkSize('colorize', width, height);
  if (!(values instanceof Float64Array || values instanceof Float32Array)) {
    throw new ImageError('colorize: values must be a Float64Array or Float32Array');
  }
  if (values.length !== width * height) {
    throw new ImageError(`colorize: values has length ${values.length}, expected width*height = ${width}*${height} = ${width * height}`);
  }
  const cmap = checkCmap(opts.cmap);
  for (const key of ['vmin', 'vmax'] as const) {
    const v = opts[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
      throw new ImageError(`colorize: ${key} must be a finite number, got ${String(v)}`);
    }
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const anyFinite = lo <= hi;
  let dmin: number;
  let dmax: number;
  if (cmap === 'diverging') {
    const m = anyFinite ? Math.max(Math.abs(lo), Math.abs(hi)) : 0;
    dmin = -m;
    dmax = m;
  } else {
    dmin = anyFinite ? lo : 0;
    dmax = anyFinite ? hi : 0;
  }
  const vmin = opts.vmin ?? dmin;
  const vmax = opts.vmax ?? dmax;
  // A degenerate range is an error only when the caller chose (part of) it.
  const degenerate = !(vmin < vmax);
  if (degenerate && (opts.vmin !== undefined || opts.vmax !== undefined)) {
    const src = (k: 'vmin' | 'vmax'): string => (opts[k] === undefined ? ' (from the data)' : '');
    throw new ImageError(`colorize: vmin (${vmin}${src('vmin')}) must be less than vmax (${vmax}${src('vmax')})`);
  }
  const table = TABLES[cmap];
  const top = table.length / 3 - 1;
  const mid = top / 2;
  const scale = degenerate ? 0 : top / (vmax - vmin);
  const out = new Uint8Array(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const o = i * 4;
    if (Number.isNaN(v)) {
      out[o] = NAN_COLOR[0];
      out[o + 1] = NAN_COLOR[1];
      out[o + 2] = NAN_COLOR[2];
    } else {
      let idx: number;
      if (degenerate) idx = Math.round(mid);
      else if (v <= vmin) idx = 0;
      else if (v >= vmax) idx = top;
      else idx = Math.min(top, Math.max(0, Math.round((v - vmin) * scale)));
      out[o] = table[idx * 3]!;
      out[o + 1] = table[idx * 3 + 1]!;
      out[o + 2] = table[idx * 3 + 2]!;
    }
    out[o + 3] = 255;
  }
  return out;
}

/** Enlarges an image by an integer factor, each pixel becoming a factor×factor block. */
export function upscale(rgba: Uint8Array, width: number, height: number, factor: number): RgbaImage {
  checkRgba('upscale', rgba, width, height);
  if (!Number.isInteger(factor) || factor <= 0) throw new ImageError(`upscale: factor must be a positive integer, got ${factor}`);
  const w = width * factor;
  const h = height * factor;
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < height; y++) {
    // Build the first output row of this source row, then copy it factor-1 times.
    const row0 = y * factor * w * 4;
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 4;
      for (let k = 0; k < factor; k++) {
        const d = row0 + (x * factor + k) * 4;
        out[d] = rgba[s]!;
        out[d + 1] = rgba[s + 1]!;
        out[d + 2] = rgba[s + 2]!;
        out[d + 3] = rgba[s + 3]!;
      }
    }
    for (let k = 1; k < factor; k++) out.copyWithin(row0 + k * w * 4, row0, row0 + w * 4);
  }
  return { rgba: out, width: w, height: h };
}

// ---- 5×7 bitmap font -------------------------------------------------------------------------
// Each glyph: seven rows of five pixels, top row first, '#' = ink. Lowercase letters have their
// x-height on rows 2–6, except g, p, q, y: they are drawn one row lower than the
// rest (see DESCENDERS), which puts their x-height on rows 1–5 and the descender on row 6. Uppercase input is
// drawn with the lowercase glyphs.

const GLYPH_ROWS: Record<string, string> = {
  a: '..... ..... .###. ....# .#### #...# .####',
  b: '#.... #.... #.##. ##..# #...# #...# ####.',
  c: '..... ..... .###. #.... #.... #...# .###.',
  d: '....# ....# .##.# #..## #...# #...# .####',
  e: '..... ..... .###. #...# ##### #.... .###.',
  f: '..##. .#..# .#... ###.. .#... .#... .#...',
  g: '..... .#### #...# #...# .#### ....# .###.',
  h: '#.... #.... #.##. ##..# #...# #...# #...#',
  i: '..#.. ..... .##.. ..#.. ..#.. ..#.. .###.',
  j: '...#. ..... ..##. ...#. ...#. #..#. .##..',
  k: '#.... #.... #..#. #.#.. ##... #.#.. #..#.',
  l: '.##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  m: '..... ..... ##.#. #.#.# #.#.# #...# #...#',
  n: '..... ..... #.##. ##..# #...# #...# #...#',
  o: '..... ..... .###. #...# #...# #...# .###.',
  p: '..... ####. #...# #...# ####. #.... #....',
  q: '..... .#### #...# #...# .#### ....# ....#',
  r: '..... ..... #.##. ##..# #.... #.... #....',
  s: '..... ..... .#### #.... .###. ....# ####.',
  t: '.#... .#... ###.. .#... .#... .#..# ..##.',
  u: '..... ..... #...# #...# #...# #..## .##.#',
  v: '..... ..... #...# #...# #...# .#.#. ..#..',
  w: '..... ..... #...# #...# #.#.# #.#.# .#.#.',
  x: '..... ..... #...# .#.#. ..#.. .#.#. #...#',
  y: '..... #...# #...# #...# .#### ....# .###.',
  z: '..... ..... ##### ...#. ..#.. .#... #####',
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
  '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '##### ...#. ..#.. ...#. ....# #...# .###.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ...#. .##..',
  ' ': '..... ..... ..... ..... ..... ..... .....',
  '-': '..... ..... ..... ##### ..... ..... .....',
  '.': '..... ..... ..... ..... ..... .##.. .##..',
  ':': '..... .##.. .##.. ..... .##.. .##.. .....',
  '=': '..... ..... ##### ..... ##### ..... .....',
  '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  ',': '..... ..... ..... ..... .##.. ..#.. .#...',
  '(': '...#. ..#.. .#... .#... .#... ..#.. ...#.',
  ')': '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
  '/': '..... ....# ...#. ..#.. .#... #.... .....',
  '_': '..... ..... ..... ..... ..... ..... #####',
};

const GLYPH_W = 5;
const GLYPH_H = 7;
/** Glyphs drawn one row lower than the rest, so that their tails hang below the baseline. */
const DESCENDERS = new Set(['g', 'p', 'q', 'y']);
/** Horizontal distance between the left edges of neighbouring characters, in font pixels. */
const ADVANCE = GLYPH_W + 1;

interface Glyph {
  /** Seven row bitmasks, top first (bit 4 = leftmost column). */
  rows: readonly number[];
  /** Rows to draw it below the others (1 for descenders). */
  drop: number;
}

const GLYPHS: ReadonlyMap<string, Glyph> = new Map(
  Object.entries(GLYPH_ROWS).map(([ch, rows]) => [ch, {
    rows: rows.split(' ').map((r) => parseInt(r.replace(/#/g, '1').replace(/\./g, '0'), 2)),
    drop: DESCENDERS.has(ch) ? 1 : 0,
  }]),
);

/** The characters a title may use (uppercase letters are drawn as lowercase). */
export const TITLE_CHARS: string = [...GLYPHS.keys()].join('');

function glyphsOf(text: string): Glyph[] {
  return [...text].map((ch) => {
    const g = GLYPHS.get(ch.toLowerCase());
    if (g === undefined) throw new ImageError(`panel: title ${JSON.stringify(text)} has a character the built-in font lacks: ${JSON.stringify(ch)}`);
    return g;
  });
}

/** Height in pixels of the title band that {@link panel} adds when any image has a title. */
export function titleBandHeight(fontScale = 2): number {
  return (GLYPH_H + 5) * fontScale; // 2 rows above, 1 for descenders, 2 below
}

/** Width in pixels of a title drawn at the given scale. */
export function titleWidth(text: string, fontScale = 2): number {
  const n = glyphsOf(text).length;
  return n === 0 ? 0 : (n * ADVANCE - 1) * fontScale;
}

/** Draws glyphs into an RGBA image `width` pixels wide with their top-left corner at (x, y), clipped at column xEnd. */
function drawGlyphs(out: Uint8Array, width: number, g: readonly Glyph[], x: number, y: number, scale: number, ink: number, xEnd: number): void {
  const height = out.length / 4 / width;
  g.forEach(({ rows, drop }, c) => {
    for (let r = 0; r < GLYPH_H; r++) {
      for (let col = 0; col < GLYPH_W; col++) {
        if (((rows[r]! >> (GLYPH_W - 1 - col)) & 1) === 0) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = x + (c * ADVANCE + col) * scale + dx;
            const py = y + (r + drop) * scale + dy;
            if (px >= xEnd || px >= width || py >= height) continue;
            const o = (py * width + px) * 4;
            out[o] = ink;
            out[o + 1] = ink;
            out[o + 2] = ink;
          }
        }
      }
    }
  });
}

/**
 * Draws text (the characters of TITLE_CHARS) into an image with its top-left corner at (x, y), in a
 * grey level `ink` (0 = black); clipped at the image's edges.
 */
export function drawText(img: RgbaImage, text: string, x: number, y: number, scale = 1, ink = 0): void {
  drawGlyphs(img.rgba, img.width, glyphsOf(text), Math.round(x), Math.round(y), scale, ink, img.width);
}

/** Height in pixels of a line of text drawn at the given scale (descenders included). */
export function textHeight(scale = 1): number {
  return (GLYPH_H + 1) * scale;
}

/** A colour-bar tick label: the value with 3 significant digits ("0.125", "-3.5e-5"). */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2).replace(/\.?0+e/, 'e');
  const t = v.toPrecision(3);
  return t.includes('.') ? t.replace(/\.?0+$/, '') : t;
}

/**
 * A vertical colour bar `height` pixels tall for values vmin…vmax of a colour map: a strip with vmax
 * at the top and vmin at the bottom (the colours {@link colorize} gives those values) and labels
 * beside it (max at the top, mid, min at the bottom; mid only when there is room) in the built-in
 * font, black on white.
 * A constant field (vmin = vmax) gets the map's centre colour and one label.
 */
export function colorbar(cmap: Colormap, vmin: number, vmax: number, height: number, fontScale = 1): RgbaImage {
  if (!Number.isFinite(vmin) || !Number.isFinite(vmax) || vmin > vmax) throw new ImageError(`colorbar: needs finite vmin <= vmax, got ${vmin}, ${vmax}`);
  if (!Number.isInteger(fontScale) || fontScale <= 0) throw new ImageError(`colorbar: fontScale must be a positive integer, got ${fontScale}`);
  const textH = (GLYPH_H + 1) * fontScale; // with the descender row
  if (!Number.isInteger(height) || height < textH) throw new ImageError(`colorbar: height must be an integer of at least ${textH} pixels, got ${height}`);
  const flat = vmin === vmax;
  const ticks: [number, number][] = flat ? [[vmin, Math.floor((height - textH) / 2)]] : [[vmax, 0], [vmin, height - textH]];
  if (!flat && height >= 3 * textH + 4 * fontScale) ticks.splice(1, 0, [(vmin + vmax) / 2, Math.floor((height - textH) / 2)]);
  const labels = ticks.map(([v]) => glyphsOf(tickLabel(v)));
  const strip = 6 * fontScale;
  const textX = strip + 2 * fontScale; // no tick marks: beside a label a tick would read as a minus sign
  const width = textX + Math.max(...labels.map((g) => g.length * ADVANCE - 1)) * fontScale;
  const out = new Uint8Array(width * height * 4).fill(255);
  const column = new Float64Array(height);
  for (let y = 0; y < height; y++) column[y] = flat ? vmin : vmax - ((vmax - vmin) * y) / Math.max(1, height - 1);
  const colours = colorize(column, 1, height, { cmap, ...(flat ? {} : { vmin, vmax }) });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < strip; x++) out.set(colours.subarray(y * 4, y * 4 + 4), (y * width + x) * 4);
  }
  ticks.forEach(([, ty], k) => drawGlyphs(out, width, labels[k]!, textX, ty, fontScale, 0, width));
  return { rgba: out, width, height };
}

/**
 * Lays images side by side, left to right, top-aligned, `gap` pixels apart. The result is
 * sum(widths) + gap*(n-1) wide and max(heights) tall, plus {@link titleBandHeight} on top when any
 * image has a title. A title is centred above its image (left-aligned and clipped to the image's
 * width when longer), in black or white, whichever contrasts with the background.
 */
export function panel(images: PanelImage[], opts: PanelOptions = {}): RgbaImage {
  if (!Array.isArray(images) || images.length === 0) throw new ImageError('panel: needs at least one image');
  const gap = opts.gap ?? 4;
  if (!Number.isInteger(gap) || gap < 0) throw new ImageError(`panel: gap must be a non-negative integer, got ${gap}`);
  const scale = opts.fontScale ?? 2;
  if (!Number.isInteger(scale) || scale <= 0) throw new ImageError(`panel: fontScale must be a positive integer, got ${scale}`);
  const bg = opts.background ?? [255, 255, 255];
  if (!Array.isArray(bg) || bg.length !== 3 || bg.some((c) => !Number.isInteger(c) || c < 0 || c > 255)) {
    throw new ImageError(`panel: background must be three integers in 0..255, got ${JSON.stringify(bg)}`);
  }
  const glyphs = images.map((im, i) => {
    checkRgba(`panel: image ${i}`, im.rgba, im.width, im.height);
    return im.title === undefined ? [] : glyphsOf(im.title);
  });
  const band = glyphs.some((g) => g.length > 0) ? titleBandHeight(scale) : 0;
  const width = images.reduce((s, im) => s + im.width, 0) + gap * (images.length - 1);
  const height = band + Math.max(...images.map((im) => im.height));
  const out = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    out[p * 4] = bg[0];
    out[p * 4 + 1] = bg[1];
    out[p * 4 + 2] = bg[2];
    out[p * 4 + 3] = 255;
  }
  const ink = luminance(bg[0], bg[1], bg[2]) >= 0.18 ? 0 : 255;
  let x0 = 0;
  images.forEach((im, i) => {
    for (let y = 0; y < im.height; y++) {
      const src = y * im.width * 4;
      out.set(im.rgba.subarray(src, src + im.width * 4), ((band + y) * width + x0) * 4);
    }
    const g = glyphs[i]!;
    if (g.length > 0) {
      const tw = (g.length * ADVANCE - 1) * scale;
      drawGlyphs(out, width, g, x0 + Math.max(0, Math.floor((im.width - tw) / 2)), 2 * scale, scale, ink, x0 + im.width);
    }
    x0 += im.width + gap;
  });
  return { rgba: out, width, height };
}

// ---- PNG files -------------------------------------------------------------------------------

/** Encodes RGBA pixels as PNG bytes (8-bit RGB when every pixel is opaque, 8-bit RGBA otherwise). */
export function encodePng(rgba: Uint8Array, width: number, height: number): Uint8Array {
  checkRgba('encodePng', rgba, width, height);
  let opaque = true;
  for (let i = 3; i < rgba.length; i += 4) {
    if (rgba[i] !== 255) {
      opaque = false;
      break;
    }
  }
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.length);
  const bytes = PNG.sync.write(png, { colorType: opaque ? 2 : 6, inputColorType: 6, inputHasAlpha: true, bitDepth: 8 });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Decodes PNG bytes (any colour type or bit depth) to 8-bit RGBA. `name` is used in error messages. */
export function decodePng(bytes: Uint8Array, name = 'png'): RgbaImage {
  let png: InstanceType<typeof PNG>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (e) {
    throw new ImageError(`${name}: not a readable PNG (${(e as Error).message})`, { cause: e });
  }
  return { rgba: new Uint8Array(png.data), width: png.width, height: png.height };
}

/**
 * Writes RGBA pixels to `path` as a PNG, atomically: the bytes go to a temporary file in the same
 * directory, which is synced and renamed into place. On any error the temporary file is removed
 * and `path` is left as it was.
 */
export function writePng(path: string, rgba: Uint8Array, width: number, height: number): void {
  let bytes: Uint8Array;
  try {
    bytes = encodePng(rgba, width, height);
  } catch (e) {
    if (e instanceof ImageError) throw new ImageError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
  try {
    writeFileAtomic(path, bytes);
  } catch (e) {
    throw new ImageError(`${path}: could not write the file (${(e as Error).message})`, { cause: e });
  }
}

/** Reads a PNG file as 8-bit RGBA. */
export function readPng(path: string): RgbaImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ImageError(`${path}: could not read the file (${(e as Error).message})`, { cause: e });
  }
  return decodePng(bytes, path);
}
