import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { buildModel } from '../runtime/model/model.js';
import { ROOT } from '../tests/fixtures.js';
import * as tiny from './baselines/tiny.gen.js';
import * as tiny2d from './baselines/tiny_layer_norm_grn_2d.gen.js';
import * as resenc2d from './baselines/resenc_2d.gen.js';
import * as transunet from './baselines/transunet_tiny.gen.js';
import { RESENC_2D, TRANSUNET_TINY } from './cases.js';

/** The generated TypeScript (type-checked by `tsc` in `npm test`) runs the same network as the IR. */
describe('generated TypeScript', () => {
  const cases = [
    { gen: tiny, spec: 'examples/tiny.mnx', set: [] as string[], size: [16, 16, 16] },
    { gen: tiny2d, spec: 'examples/tiny.mnx', set: ['norm_type="layer"', 'grn=true', 'dim="2d"'], size: [16, 16] },
    { gen: resenc2d, spec: 'examples/resenc.mnx', set: RESENC_2D, size: [32, 32] },
    { gen: transunet, spec: 'examples/baselines/transunet.mnx', set: TRANSUNET_TINY, size: [64, 64] },
  ];
  for (const c of cases) {
    it(`${c.spec} ${c.set.join(' ')}: same parameters and outputs as the IR-built model`, async () => {
      await tf.setBackend('cpu');
      const ir = compileFile(join(ROOT, c.spec), { set: c.set, inputSize: c.size }).ir!;
      expect(c.gen.parameters.map((p) => [p.name, p.shape])).toEqual(ir.parameters.map((p) => [p.name, p.shape]));
      const model = buildModel(ir, { seed: 3 });
      const x = tf.randomNormal([1, ...c.size, 1], 0, 1, 'float32', 7);
      const a = model.forward(x);
      const b = c.gen.forward((n) => model.variables.get(n)!, x);
      expect(b.length).toBe(a.length);
      for (let i = 0; i < a.length; i++) {
        expect(b[i]!.shape).toEqual(a[i]!.shape);
        expect(tf.max(tf.abs(tf.sub(a[i]!, b[i]!))).dataSync()[0]).toBeLessThan(1e-6);
      }
      tf.dispose([x, ...a, ...b]);
      model.dispose();
    });
  }
});
