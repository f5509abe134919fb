/** Line plots: series land where their coordinates say, log axes, reference lines, named errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { linePlot } from '../../src/data/formats/plot.js';
import { decodePng, encodePng } from '../../src/data/formats/png.js';

function colored(img: { rgba: Uint8Array; width: number }, c: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < img.rgba.length; k += 4) {
    if (img.rgba[k] === c[0] && img.rgba[k + 1] === c[1] && img.rgba[k + 2] === c[2]) out.push([(k / 4) % img.width, Math.floor(k / 4 / img.width)]);
  }
  return out;
}

describe('linePlot', () => {
  it('draws a rising series rising, on a log axis too, and survives a PNG round trip', () => {
    const red = [230, 20, 20] as const;
    for (const logY of [false, true]) {
      const img = linePlot({ series: [{ label: 'a', color: red, points: [[0, 1e-3], [1, 1e-2], [2, 1e-1]] }], logY, title: 'test', xLabel: 'epoch' });
      const px = colored(img, red).filter(([x]) => x > 64 + 30); // leave out the legend's swatch
      assert.ok(px.length > 20);
      const leftmost = px.reduce((a, b) => (b[0] < a[0] ? b : a));
      const rightmost = px.reduce((a, b) => (b[0] > a[0] ? b : a));
      assert.ok(rightmost[1] < leftmost[1], 'larger y is higher up');
      if (logY) {
        // equal ratios are equal steps: the middle point sits halfway in y
        const mid = px.filter(([x]) => Math.abs(x - (leftmost[0] + rightmost[0]) / 2) <= 1).map(([, y]) => y);
        const ym = mid.reduce((a, b) => a + b, 0) / mid.length;
        assert.ok(Math.abs(ym - (leftmost[1] + rightmost[1]) / 2) < 3, `${ym}`);
      }
      const back = decodePng(encodePng(img.rgba, img.width, img.height));
      assert.deepEqual(back.rgba, img.rgba);
    }
  });

  it('draws reference lines and names an empty plot', () => {
    const img = linePlot({ series: [{ label: 's', color: [0, 0, 255], points: [[0, 1], [1, 2]] }], hlines: [{ y: 1.5, label: 't', color: [0, 200, 0] }] });
    const green = colored(img, [0, 200, 0]);
    assert.ok(green.length > 50 && new Set(green.map(([, y]) => y)).size <= 2, 'one dashed horizontal line');
    assert.throws(() => linePlot({ series: [{ label: 's', color: [0, 0, 0], points: [[0, Number.NaN]] }] }), /no finite points to draw/);
    assert.throws(() => linePlot({ series: [{ label: 's', color: [0, 0, 0], points: [[0, -1]] }], logY: true }), /no finite points/);
  });
});
