// Line plots as RGBA images (written as PNG with encodePng/writePng): a few series of (x, y) points on
// linear x and linear or logarithmic y axes, with ticks, axis labels, a legend and horizontal
// reference lines. Used for the automatic precision schedule's probe ratios over training.
import { ImageError, type RgbaImage, drawText, textHeight, tickLabel, titleWidth } from './png.js';

export interface PlotSeries {
  label: string;
  points: readonly (readonly [number, number])[];
  color: readonly [number, number, number];
}

export interface PlotOptions {
  series: readonly PlotSeries[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Logarithmic y axis (points with y ≤ 0 are left out). */
  logY?: boolean;
  /** Horizontal reference lines (dashed), e.g. a threshold. */
  hlines?: readonly { y: number; label: string; color?: readonly [number, number, number] }[];
  /** Vertical reference lines (dashed), e.g. a precision switch. */
  vlines?: readonly { x: number; label: string; color?: readonly [number, number, number] }[];
  width?: number;
  height?: number;
}

function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) if (e >= lo - 1e-9 && e <= hi + 1e-9) out.push(e);
    return out.length >= 2 ? out : [lo, hi];
  }
  const span = hi - lo || 1;
  const step0 = 10 ** Math.floor(Math.log10(span / 5));
  const step = [1, 2, 5, 10].map((m) => m * step0).find((s) => span / s <= 6) ?? step0 * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Draws the plot. Errors name what is wrong (no points, a series without finite points). */
export function linePlot(o: PlotOptions): RgbaImage {
  const width = o.width ?? 720;
  const height = o.height ?? 400;
  const log = o.logY === true;
  const pts = o.series.map((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0)));
  const all = pts.flat();
  if (all.length === 0) throw new ImageError(`plot${o.title ? ` '${o.title}'` : ''}: no finite points to draw`);
  const ty = (y: number) => (log ? Math.log10(y) : y);
  const ys = [...all.map(([, y]) => ty(y)), ...(o.hlines ?? []).filter((h) => !log || h.y > 0).map((h) => ty(h.y))];
  const xs = [...all.map(([x]) => x), ...(o.vlines ?? []).map((v) => v.x)];
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  if (log) [y0, y1] = [Math.floor(y0 - pad), Math.ceil(y1 + pad)];
  else [y0, y1] = [y0 - pad, y1 + pad];
  const img: RgbaImage = { rgba: new Uint8Array(width * height * 4).fill(255), width, height };
  const th = textHeight(1);
  const left = 64;
  const right = 12;
  const top = o.title ? 2 * th + 14 : 12;
  const bottom = 2 * th + 16;
  const pw = width - left - right;
  const ph = height - top - bottom;
  if (pw < 20 || ph < 20) throw new ImageError(`plot: ${width} × ${height} pixels leave no room for the axes`);
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * pw;
  const py = (y: number) => top + ph - ((ty(y) - y0) / (y1 - y0)) * ph;
  const set = (x: number, y: number, c: readonly [number, number, number]) => {
    const ix = Math.round(x);
    const iy = Math.round(y);
    if (ix < 0 || iy < 0 || ix >= width || iy >= height) return;
    const k = (iy * width + ix) * 4;
    img.rgba[k] = c[0];
    img.rgba[k + 1] = c[1];
    img.rgba[k + 2] = c[2];
  };
  const line = (ax: number, ay: number, bx: number, by: number, c: readonly [number, number, number], dash = 0) => {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(bx - ax), Math.abs(by - ay))));
    for (let i = 0; i <= n; i++) {
      if (dash && Math.floor(i / dash) % 2 === 1) continue;
      set(ax + ((bx - ax) * i) / n, ay + ((by - ay) * i) / n, c);
    }
  };
  const grey: [number, number, number] = [200, 204, 210];
  const black: [number, number, number] = [0, 0, 0];
  // grid and ticks
  for (const t of ticks(y0, y1, log)) {
    const y = top + ph - ((t - y0) / (y1 - y0)) * ph;
    line(left, y, left + pw, y, grey, 2);
    const label = log ? `1e${t}` : tickLabel(t);
    drawText(img, label, left - 6 - titleWidth(label, 1), y - th / 2, 1);
  }
  for (const t of ticks(x0, x1, false)) {
    const x = px(t);
    line(x, top, x, top + ph, grey, 2);
    const label = tickLabel(t);
    drawText(img, label, x - titleWidth(label, 1) / 2, top + ph + 4, 1);
  }
  line(left, top, left, top + ph, black);
  line(left, top + ph, left + pw, top + ph, black);
  for (const h of o.hlines ?? []) {
    if (log && h.y <= 0) continue;
    const c = h.color ?? [180, 30, 30];
    line(left, py(h.y), left + pw, py(h.y), c, 4);
    drawText(img, h.label, left + pw - titleWidth(h.label, 1) - 2, py(h.y) - th - 1, 1, 90);
  }
  for (const v of o.vlines ?? []) {
    const c = v.color ?? [90, 90, 90];
    line(px(v.x), top, px(v.x), top + ph, c, 3);
    drawText(img, v.label, px(v.x) + 3, top + 2, 1, 90);
  }
  o.series.forEach((s, i) => {
    const p = pts[i]!;
    for (let k = 1; k < p.length; k++) line(px(p[k - 1]![0]), py(p[k - 1]![1]), px(p[k]![0]), py(p[k]![1]), s.color);
    for (const [x, y] of p) for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) set(px(x) + dx, py(y) + dy, s.color);
  });
  // legend (top left inside the axes), title, axis labels
  o.series.forEach((s, i) => {
    const y = top + 4 + i * (th + 3);
    for (let dx = 0; dx < 14; dx++) for (let dy = -1; dy <= 1; dy++) set(left + 6 + dx, y + th / 2 + dy, s.color);
    drawText(img, s.label, left + 24, y, 1);
  });
  if (o.title) drawText(img, o.title, left, 6, 2);
  if (o.xLabel) drawText(img, o.xLabel, left + pw / 2 - titleWidth(o.xLabel, 1) / 2, height - th - 4, 1);
  if (o.yLabel) drawText(img, o.yLabel, 4, top - th - 2 < 0 ? 0 : top - th - 2, 1);
  return img;
}
