/**
 * Largest-connected-component postprocessing (nnU-Net `remove_all_but_the_largest_connected_component`
 * applied per class): for each foreground class, keep only its largest face-connected component
 * (scipy.ndimage.label's default 3-D structure, 6 neighbours) and set the other voxels of that class
 * to background.
 */
import type { Triple } from '../data/plan/plans.js';

type Labels = Uint8Array | Uint16Array;

/** Component id per voxel of `mask` (0 = outside), and each component's size (index = id). */
export function connectedComponents(mask: (i: number) => boolean, shape: Triple): { ids: Int32Array; sizes: number[] } {
  const [d0, d1, d2] = shape;
  const n = d0 * d1 * d2;
  const ids = new Int32Array(n);
  const sizes = [0];
  const stack = new Int32Array(n);
  const plane = d1 * d2;
  for (let seed = 0; seed < n; seed++) {
    if (ids[seed] !== 0 || !mask(seed)) continue;
    const id = sizes.length;
    let size = 0;
    let top = 0;
    stack[top++] = seed;
    ids[seed] = id;
    while (top > 0) {
      const i = stack[--top]!;
      size++;
      const a = Math.floor(i / plane);
      const r = i - a * plane;
      const b = Math.floor(r / d2);
      const c = r - b * d2;
      // The six face neighbours that exist.
      const neighbours = [a > 0 ? i - plane : -1, a < d0 - 1 ? i + plane : -1, b > 0 ? i - d2 : -1, b < d1 - 1 ? i + d2 : -1, c > 0 ? i - 1 : -1, c < d2 - 1 ? i + 1 : -1];
      for (const j of neighbours)
        if (j >= 0 && ids[j] === 0 && mask(j)) {
          ids[j] = id;
          stack[top++] = j;
        }
    }
    sizes.push(size);
  }
  return { ids, sizes };
}

/** Keeps the largest component of each class in `classes` (in place); returns voxels removed per class. */
export function keepLargestComponentPerClass(labels: Labels, shape: Triple, classes: number[]): Record<number, number> {
  const removed: Record<number, number> = {};
  for (const k of classes) {
    const { ids, sizes } = connectedComponents((i) => labels[i] === k, shape);
    if (sizes.length <= 2) {
      removed[k] = 0;
      continue;
    }
    let best = 1;
    for (let id = 2; id < sizes.length; id++) if (sizes[id]! > sizes[best]!) best = id;
    let count = 0;
    for (let i = 0; i < labels.length; i++)
      if (ids[i] !== 0 && ids[i] !== best) {
        labels[i] = 0;
        count++;
      }
    removed[k] = count;
  }
  return removed;
}

/** An entry of `for_which_classes` (postprocessing.json): one label, or several treated as one foreground. */
export type PostprocessingEntry = number | number[];

/** Keeps the largest component of each entry in turn (in place); returns the voxels removed per entry. */
export function applyPostprocessing(labels: { [i: number]: number; length: number }, shape: Triple, forWhichClasses: readonly PostprocessingEntry[]): number[] {
  return forWhichClasses.map((entry) => {
    const set = new Set(Array.isArray(entry) ? entry : [entry]);
    const { ids, sizes } = connectedComponents((i) => set.has(labels[i]!), shape);
    if (sizes.length <= 1) return 0;
    // scipy labels in scan order; nnU-Net keeps every object whose size equals the largest
    const largest = Math.max(...sizes.slice(1));
    let removed = 0;
    for (let i = 0; i < labels.length; i++) {
      const id = ids[i]!;
      if (id > 0 && sizes[id] !== largest) {
        labels[i] = 0;
        removed++;
      }
    }
    return removed;
  });
}
