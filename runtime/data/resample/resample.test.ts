import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { zoomAxis } from './spline.js';
import { nearestAlongAxis, resizeImage, resizeLabels } from './resize.js';
import { isAnisotropic, resampleImage, resampleLabels, resampledShape, roundHalfEven, separateAxis } from './resample.js';

const line = (v: number[]) => Float64Array.from(v);
const close = (a: ArrayLike<number>, b: number[], tol = 1e-12) => {
  expect(a.length).toBe(b.length);
  b.forEach((v, i) => expect(Math.abs(a[i]! - v), `index ${i}: ${a[i]} vs ${v}`).toBeLessThanOrEqual(tol));
};

describe('zoomAxis (scipy.ndimage.zoom, mode nearest, grid_mode)', () => {
  it('order 1 upsampling by 2: sample k sits at (k + 0.5)/2 − 0.5, edges clamp', () => {
    // coordinates −0.25, 0.25, 0.75, 1.25 on [0, 1] → 0, 0.25, 0.75, 1
    close(zoomAxis(line([0, 1]), [2], 0, 4, 1).data, [0, 0.25, 0.75, 1]);
    // 3 → 2: coordinates 0.25 and 1.75 → 10 + 0.25·10, 20 + 0.75·10
    close(zoomAxis(line([10, 20, 30]), [3], 0, 2, 1).data, [12.5, 27.5]);
  });

  it('order 0 rounds half up and clamps', () => {
    // coordinates −0.25, 0.25, 0.75, 1.25, 1.75, 2.25 → indices 0 0 1 1 2 2
    close(zoomAxis(line([5, 6, 7]), [3], 0, 6, 0).data, [5, 5, 6, 6, 7, 7]);
    // downsampling by 2: coordinates 0.5, 2.5 → floor(1.0), floor(3.0) = 1, 3
    close(zoomAxis(line([0, 1, 2, 3]), [4], 0, 2, 0).data, [1, 3]);
  });

  it('order 3 matches scipy (values printed by scipy 1.17 ndimage.zoom(order=3, mode="nearest", grid_mode=True))', () => {
    // zoom(np.arange(10.), 0.5, ...)
    close(zoomAxis(line([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), [10], 0, 5, 3).data, [0.42075528119725614, 2.4943396629426617, 4.500000000000001, 6.50566033705734, 8.579244718802745], 1e-12);
    // zoom([0,0,0,1,1,1], 7/6, ...): overshoot on both sides of the step
    close(
      zoomAxis(line([0, 0, 0, 1, 1, 1]), [6], 0, 7, 3).data,
      [-0.002861144590062186, 0.024114470704342177, -0.10750041261290424, 0.5, 1.1075004126129042, 0.9758855292956579, 1.0028611445900624],
      1e-12,
    );
  });

  it('order 3 reproduces a linear ramp away from the edges and a constant everywhere', () => {
    const ramp = Float64Array.from({ length: 40 }, (_, i) => 2 * i + 1);
    const up = zoomAxis(ramp, [40], 0, 80, 3).data;
    for (let k = 30; k < 50; k++) expect(up[k]).toBeCloseTo(2 * ((k + 0.5) / 2 - 0.5) + 1, 6);
    close(zoomAxis(new Float64Array(7).fill(3.5), [7], 0, 12, 3).data, new Array(12).fill(3.5), 1e-12);
  });

  it('works along every axis of a C-order volume', () => {
    // [2, 1, 3] volume, zoom axis 0 to 4 with order 1: each column interpolates between its two values
    const v = line([0, 1, 2, 10, 11, 12]);
    const r = zoomAxis(v, [2, 1, 3], 0, 4, 1);
    expect(r.shape).toEqual([4, 1, 3]);
    close(r.data, [0, 1, 2, 2.5, 3.5, 4.5, 7.5, 8.5, 9.5, 10, 11, 12]);
  });
});

describe('resizeImage (skimage resize, clip=True)', () => {
  it('is the identity when the shape does not change', () => {
    const v = Float64Array.from({ length: 24 }, (_, i) => Math.sin(i));
    close(resizeImage(v, [2, 3, 4], [2, 3, 4], 3), Array.from(v));
  });

  it('clips cubic overshoot to the input range', () => {
    const step = line([0, 0, 0, 1, 1, 1]);
    const r = resizeImage(step, [1, 1, 6], [1, 1, 7], 3);
    expect(Math.min(...r)).toBe(0);
    expect(Math.max(...r)).toBe(1);
    expect(r[3]).toBeCloseTo(0.5, 12);
  });
});

describe('resizeLabels (nnU-Net resize_segmentation, order 1)', () => {
  it('thresholds each label\'s linearly resized mask at 0.5, in ascending order', () => {
    // one-hot of 1 = [0,1,1,0] → 0, .25, .75, 1, 1, .75, .25, 0 ; of 2 = [0,0,0,1] → …, .75, 1
    const r = resizeLabels(Int16Array.from([0, 1, 1, 2]), [1, 1, 4], [1, 1, 8], 1);
    expect(Array.from(r)).toEqual([0, 0, 1, 1, 1, 1, 2, 2]);
  });

  it('keeps −1 (outside the body) as a label like any other', () => {
    const r = resizeLabels(Int16Array.from([-1, -1, 0, 1]), [1, 1, 4], [1, 1, 2], 1);
    expect(Array.from(r)).toEqual([-1, 1]);
  });
});

describe('resampling decisions (nnU-Net resample_patient)', () => {
  it('rounds the new shape like numpy (half to even)', () => {
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(resampledShape([128, 256, 256], [2.5, 0.8, 0.8], [1, 1, 1])).toEqual([320, 205, 205]);
    expect(resampledShape([5, 5, 5], [0.5, 1, 1.5], [1, 1, 1])).toEqual([2, 5, 8]);
  });

  it('resamples the coarse axis separately only when it is the single coarsest one and the ratio exceeds 3', () => {
    expect(isAnisotropic([3.1, 1, 1])).toBe(true);
    expect(isAnisotropic([3, 1, 1])).toBe(false);
    expect(separateAxis([2.5, 0.8, 0.8], [1, 1, 1])).toBe(0);
    expect(separateAxis([0.7, 0.7, 2.2], [1, 1, 1])).toBe(2);
    expect(separateAxis([1, 1, 1], [3.5, 1, 1])).toBe(0); // decided on the target spacing
    expect(separateAxis([4, 4, 1], [1, 1, 1])).toBeUndefined(); // two coarse axes: no separate z
    expect(separateAxis([1.5, 1, 1], [1, 1, 1])).toBeUndefined();
  });

  it('separate z: cubic in-plane, nearest neighbour along the coarse axis', () => {
    // [2, 2, 2] → [4, 3, 3] with axis 0 separate: slices are copied, each slice resized on its own
    const v = line([0, 1, 2, 3, 10, 11, 12, 13]);
    const r = resampleImage(v, [2, 2, 2], [4, 3, 3], 0);
    const slice = (s: number) => Array.from(r.subarray(s * 9, (s + 1) * 9));
    expect(slice(0)).toEqual(slice(1));
    expect(slice(2)).toEqual(slice(3));
    const plane0 = resizeImage(line([0, 1, 2, 3]), [1, 2, 2], [1, 3, 3], 3);
    close(slice(0), Array.from(plane0));
    expect(Math.min(...slice(3))).toBeGreaterThanOrEqual(10); // clipped to that slice's own range
    const labels = resampleLabels(Int16Array.from([0, 1, 1, 1, 2, 2, 2, 0]), [2, 2, 2], [4, 3, 3], 0);
    expect(Array.from(labels.subarray(0, 9))).toEqual(Array.from(labels.subarray(9, 18)));
  });

  it('separate axis shrinking: picking the slices first gives exactly the values of resizing every slice first', () => {
    // the export of a CT case takes 500 preprocessed slices back to 200: only the kept ones are resized
    const shape: [number, number, number] = [11, 7, 6];
    const v = Float32Array.from({ length: 11 * 7 * 6 }, (_, i) => Math.sin(i * 0.37) * 50 + ((i * 7919) % 23));
    for (const order of [1, 3] as const) {
      for (const [axis, newShape] of [[0, [4, 10, 5]], [2, [9, 5, 3]]] as const) {
        const plane = [...newShape] as [number, number, number];
        plane[axis] = shape[axis];
        const everySlice = nearestAlongAxis(resizeImage(v, shape, plane, order, axis), plane, axis, newShape[axis]);
        expect(Array.from(resampleImage(v, shape, [...newShape], axis, order))).toEqual(Array.from(everySlice));
      }
    }
  });

  it('is the identity when the spacing already matches', () => {
    const v = Float64Array.from({ length: 60 }, (_, i) => (i * 7919) % 13);
    expect(Array.from(resampleImage(v, [3, 4, 5], [3, 4, 5], undefined))).toEqual(Array.from(v));
    const l = Int16Array.from({ length: 60 }, (_, i) => i % 3);
    expect(Array.from(resampleLabels(l, [3, 4, 5], [3, 4, 5], undefined))).toEqual(Array.from(l));
  });
});

describe('against nnU-Net\'s resampling restated on scipy (testdata/nnunet-resample.py, scipy 1.17)', () => {
  // a 5 × 9 × 8 volume of random intensities and a smoothed random label map (−1, 0, 1, 2)
  const ref = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'nnunet-resample.json'), 'utf8')) as Record<string, number[]>;
  const maxDiff = (a: ArrayLike<number>, b: number[]) => b.reduce((m, v, i) => Math.max(m, Math.abs(a[i]! - v)), 0);

  it('images: cubic in 3-D, and cubic in-plane + nearest along the separate axis', () => {
    expect(maxDiff(resampleImage(ref.x!, [5, 9, 8], [7, 12, 5], undefined, 3), ref.img_full!)).toBeLessThan(1e-9);
    expect(maxDiff(resampleImage(ref.x!, [5, 9, 8], [13, 12, 5], 0, 3), ref.img_sep!)).toBeLessThan(1e-9);
  });

  it('labels: resize_segmentation order 1, in 3-D and with the separate axis — identical', () => {
    expect(Array.from(resampleLabels(ref.seg!, [5, 9, 8], [7, 12, 5], undefined, 1))).toEqual(ref.seg_full);
    expect(Array.from(resampleLabels(ref.seg!, [5, 9, 8], [13, 12, 5], 0, 1))).toEqual(ref.seg_sep);
  });
});
