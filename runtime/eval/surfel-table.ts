/**
 * Surface-element ("surfel") areas of a binary volume, per 2×2×2 neighbourhood code, as the
 * standard normalised surface Dice (Nikolov et al. 2018; DeepMind's surface-distance library)
 * defines them: the surface is the marching-cubes isosurface through the midpoints of the cell
 * edges whose two corners differ, and each cell contributes the summed area of its triangles.
 *
 * The table is derived here from first principles rather than stored:
 *  1. In each of the cell's 6 faces, every edge whose corners differ carries one vertex (its
 *     midpoint); the face's 0, 2 or 4 such vertices are joined by segments. A face with 4 (the
 *     two "inside" corners diagonal) is ambiguous: the segments cut off the corners of the minority
 *     state (the inside corners when at most 4 of the 8 are inside, else the outside ones), the
 *     classic marching-cubes convention.
 *  2. The segments close into loops (polygons); each polygon is triangulated: a pentagon by the
 *     fan of largest area, a hexagon by its central triangle plus three ears. (Quadrilaterals and
 *     planar hexagons give the same area whichever way.) These choices reproduce the library's
 *     areas for all 256 codes and any spacing.
 *  3. Each triangle's area vector (half the cross product) is scaled by the voxel spacing — a
 *     component along axis i scales with the product of the other two spacings — and the lengths
 *     are summed.
 *
 * Code bits: the corner at offset (a, b, c) ∈ {0,1}³ along axes (0, 1, 2) of the 2×2×2
 * neighbourhood has bit value 2^(7 − (4a + 2b + c)), so (0,0,0) is the highest bit.
 */

type Vec3 = [number, number, number];

/** Bit of the corner at offset (a, b, c). */
export function cornerBit(a: number, b: number, c: number): number {
  return 1 << (7 - (4 * a + 2 * b + c));
}

function isInside(code: number, p: Vec3): boolean {
  return (code & cornerBit(p[0], p[1], p[2])) !== 0;
}

/** The 6 faces of the unit cell, each as its 4 corners in cyclic order. */
function cellFaces(): Vec3[][] {
  const faces: Vec3[][] = [];
  for (let axis = 0; axis < 3; axis++) {
    const [u, w] = [0, 1, 2].filter((a) => a !== axis) as [number, number];
    for (const side of [0, 1]) {
      const cycle: Vec3[] = [];
      for (const [cu, cw] of [[0, 0], [1, 0], [1, 1], [0, 1]] as const) {
        const p: Vec3 = [0, 0, 0];
        p[axis] = side;
        p[u] = cu;
        p[w] = cw;
        cycle.push(p);
      }
      faces.push(cycle);
    }
  }
  return faces;
}

const FACES = cellFaces();

/** Edge midpoints in doubled coordinates (0, 1, 2), so vertices compare exactly. */
function midpoint(p: Vec3, q: Vec3): Vec3 {
  return [p[0] + q[0], p[1] + q[1], p[2] + q[2]];
}

const keyOf = (v: Vec3) => `${v[0]},${v[1]},${v[2]}`;

/** The closed polygons of the isosurface inside one cell, vertices in doubled coordinates. */
function surfaceLoops(code: number): Vec3[][] {
  let inside = 0;
  for (let b = 0; b < 8; b++) if (code & (1 << b)) inside++;
  const minorityIsInside = inside <= 4;
  const segments: [Vec3, Vec3][] = [];
  for (const face of FACES) {
    const crossings: Vec3[] = []; // midpoint of edge (face[i], face[i+1]) where the corners differ
    const crossingEdge: number[] = [];
    for (let i = 0; i < 4; i++) {
      const p = face[i]!, q = face[(i + 1) % 4]!;
      if (isInside(code, p) !== isInside(code, q)) {
        crossings.push(midpoint(p, q));
        crossingEdge.push(i);
      }
    }
    if (crossings.length === 2) {
      segments.push([crossings[0]!, crossings[1]!]);
    } else if (crossings.length === 4) {
      // Cut off corner 1 (between edges 0 and 1) and corner 3, or corners 2 and 0.
      const cutOneAndThree = isInside(code, face[1]!) === minorityIsInside;
      const [m0, m1, m2, m3] = crossings as [Vec3, Vec3, Vec3, Vec3];
      if (cutOneAndThree) segments.push([m0, m1], [m2, m3]);
      else segments.push([m1, m2], [m3, m0]);
    }
  }
  // Every vertex lies on two faces, so it ends exactly two segments: walk the cycles.
  const neighbours = new Map<string, Vec3[]>();
  const vertex = new Map<string, Vec3>();
  for (const [a, b] of segments) {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      vertex.set(keyOf(x), x);
      const list = neighbours.get(keyOf(x)) ?? [];
      list.push(y);
      neighbours.set(keyOf(x), list);
    }
  }
  const seen = new Set<string>();
  const loops: Vec3[][] = [];
  for (const [start, v] of vertex) {
    if (seen.has(start)) continue;
    const loop: Vec3[] = [v];
    seen.add(start);
    let current = v;
    for (;;) {
      const next = neighbours.get(keyOf(current))!.find((w) => !seen.has(keyOf(w)));
      if (!next) break;
      loop.push(next);
      seen.add(keyOf(next));
      current = next;
    }
    loops.push(loop);
  }
  return loops;
}

/** Area vector (half the cross product) of a triangle given in doubled coordinates. */
function areaVector(a: Vec3, b: Vec3, c: Vec3): Vec3 {
  const u = [(b[0] - a[0]) / 2, (b[1] - a[1]) / 2, (b[2] - a[2]) / 2];
  const v = [(c[0] - a[0]) / 2, (c[1] - a[1]) / 2, (c[2] - a[2]) / 2];
  return [
    (u[1]! * v[2]! - u[2]! * v[1]!) / 2,
    (u[2]! * v[0]! - u[0]! * v[2]!) / 2,
    (u[0]! * v[1]! - u[1]! * v[0]!) / 2,
  ];
}

const norm = (n: Vec3) => Math.hypot(n[0], n[1], n[2]);

function fan(loop: Vec3[], apex: number): Vec3[] {
  const k = loop.length;
  const out: Vec3[] = [];
  for (let i = 1; i < k - 1; i++) {
    out.push(areaVector(loop[apex]!, loop[(apex + i) % k]!, loop[(apex + i + 1) % k]!));
  }
  return out;
}

function triangulate(loop: Vec3[]): Vec3[] {
  if (loop.length === 6) {
    const [a, b, c, d, e, f] = loop as [Vec3, Vec3, Vec3, Vec3, Vec3, Vec3];
    return [areaVector(a, c, e), areaVector(a, b, c), areaVector(c, d, e), areaVector(e, f, a)];
  }
  let best: Vec3[] = [];
  let bestArea = -1;
  for (let apex = 0; apex < loop.length; apex++) {
    const tris = fan(loop, apex);
    const area = tris.reduce((s, n) => s + norm(n), 0);
    if (area > bestArea + 1e-12) {
      bestArea = area;
      best = tris;
    }
  }
  return best;
}

let unitNormals: Vec3[][] | undefined;

/** For each code 0..255, the area vectors of its triangles in a unit cell. */
export function surfelNormals(): Vec3[][] {
  if (!unitNormals) {
    unitNormals = [];
    for (let code = 0; code < 256; code++) unitNormals.push(surfaceLoops(code).flatMap(triangulate));
  }
  return unitNormals;
}

/** Surface area (mm²) contributed by a cell of each neighbourhood code at this voxel spacing. */
export function surfelAreaTable(spacing: readonly [number, number, number] | readonly number[]): Float64Array {
  const [s0, s1, s2] = spacing as [number, number, number];
  const table = new Float64Array(256);
  const normals = surfelNormals();
  for (let code = 0; code < 256; code++) {
    let sum = 0;
    for (const n of normals[code]!) {
      const x = n[0] * s1 * s2, y = n[1] * s0 * s2, z = n[2] * s0 * s1;
      sum += Math.sqrt(x * x + y * y + z * z);
    }
    table[code] = sum;
  }
  return table;
}
