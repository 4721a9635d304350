import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, encodePng } from './png.js';
import { pickSlices, renderReport, escapeHtml } from './report.js';
import { labelSlice, sideBySide, windowedSlice } from './slices.js';

describe('encodePng', () => {
  it('writes signature, IHDR, IDAT rows with filter 0, IEND, each with a correct CRC', () => {
    const rgb = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => (i * 37) % 256);
    const png = encodePng(3, 2, rgb);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
    const chunks: { type: string; data: Uint8Array }[] = [];
    for (let o = 8; o < png.length; ) {
      const len = dv.getUint32(o);
      const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
      expect(dv.getUint32(o + 8 + len), type).toBe(crc32(png, o + 4, o + 8 + len));
      chunks.push({ type, data: png.subarray(o + 8, o + 8 + len) });
      o += 12 + len;
    }
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const ihdr = new DataView(chunks[0]!.data.buffer, chunks[0]!.data.byteOffset);
    expect([ihdr.getUint32(0), ihdr.getUint32(4), chunks[0]!.data[8], chunks[0]!.data[9]]).toEqual([3, 2, 8, 2]);
    const raw = inflateSync(chunks[1]!.data);
    expect(raw.length).toBe(2 * (1 + 9));
    expect(raw[0]).toBe(0);
    expect([...raw.subarray(1, 10)]).toEqual([...rgb.subarray(0, 9)]);
    expect([...raw.subarray(11, 20)]).toEqual([...rgb.subarray(9, 18)]);
  });

  it('matches the standard CRC-32 check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('refuses a buffer of the wrong size', () => {
    expect(() => encodePng(2, 2, new Uint8Array(5))).toThrow(/needs 12 bytes/);
  });
});

describe('slices and report', () => {
  const shape = [4, 3, 5];
  const labels = new Uint8Array(4 * 3 * 5);
  labels[1 + 4 * (1 + 3 * 1)] = 1; // one liver voxel on slice 1
  for (let i = 0; i < 3; i++) labels[i + 4 * 3 * 3] = 2; // three kidney voxels on slice 3

  it('windows intensities and colours labels slice by slice, x across and y down', () => {
    const data = Float32Array.from({ length: labels.length }, (_, i) => (i % 4) * 100 - 150);
    const w = windowedSlice(data, shape, 0, 0, 300, 1);
    expect([w.width, w.height]).toEqual([4, 3]);
    expect([...w.rgb.subarray(0, 12)]).toEqual([0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]);
    const l = labelSlice(labels, shape, 1, 2);
    expect([l.width, l.height]).toEqual([8, 6]);
    const at = (x: number, y: number) => [...l.rgb.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3)];
    expect(at(0, 0)).toEqual([0, 0, 0]);
    expect(at(2, 2)).toEqual(at(3, 3));
    expect(at(2, 2)).not.toEqual([0, 0, 0]);
    expect(sideBySide([w, w], 2).width).toBe(10);
  });

  it('picks the slices where each class is largest', () => {
    expect(pickSlices(labels, shape, 2)).toEqual([1, 3]);
  });

  it('escapes text it puts into the page', () => {
    expect(escapeHtml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    const html = renderReport({
      title: 'A <b> title', labels: { 0: 'background', 1: 'liver' }, settings: [['k', 'v']], steps: [{ name: 'train', seconds: 2 }],
      history: [{ epoch: 0, train_loss: 1, val_loss: 0.9, pseudo_dice: 0.2, ema_pseudo_dice: 0.2 }, { epoch: 1, train_loss: 0.5, val_loss: 0.6, pseudo_dice: 0.6, ema_pseudo_dice: 0.3 }],
      metrics: [{ name: 'liver', dice: 0.9, nsd: 0.8, hd95: 2, asd: 1 }], mean: { dice: 0.9, nsd: 0.8, hd95: 2, asd: 1 }, metricsNote: 'n', example: null, outputs: [],
    });
    expect(html).toContain('<title>A &lt;b&gt; title</title>');
    expect(html).toContain('<td>liver</td><td>0.900</td><td>0.800</td>');
    expect(html).toMatch(/<polyline[^>]+points="[^"]+ [^"]+"/);
  });
});
