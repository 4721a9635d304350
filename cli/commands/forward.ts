import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_CHOICES, useBackend, type BackendChoice } from '../../runtime/backend.js';
import { buildModel } from '../../runtime/model/model.js';
import { readSafetensors, writeSafetensors, type TensorMap } from '../../runtime/io/safetensors.js';
import { loadWeights } from '../../runtime/weights/state-dict.js';
import { channelsFirstToLast, channelsLastToFirst } from '../../runtime/weights/layout.js';
import { parseCommandArgs, type Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { checkInputSize } from '../../app/network.js';
import { NETWORK_HELP, SPEC_HELP, networkFromArgs, specOptions } from '../spec-args.js';

export const command: Command = {
  name: 'forward',
  summary: 'run the network on an input tensor',
  help: `Usage: mnxc forward SPEC [--set NAME=VALUE]... [--variant V] --weights W.safetensors
                    --input I.safetensors --output O.safetensors [--backend auto|tensorflow|native|wasm|cpu]

Runs the raw network (no pre- or post-processing). I holds a float32 tensor 'input' in NCDHW
(NCHW for 2-D); O receives out_0 … out_N (one per head, full resolution first) in NCDHW.
W is a safetensors file in PyTorch naming and layout (the official state_dict keys).
${NETWORK_HELP}

${SPEC_HELP}
  --weights FILE       weights (safetensors, PyTorch state_dict names and layouts)
  --input FILE         input tensor 'input', float32, NCDHW
  --output FILE        where to write out_0 …
  --backend B          auto (default: tensorflow, then native, wasm, cpu), tensorflow, native, wasm or cpu
  --repeat N           run N times and report the fastest (the first run includes warm-up)`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...specOptions,
      weights: { type: 'string' },
      input: { type: 'string' },
      output: { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      repeat: { type: 'string', default: '1' },
    });
    const repeat = Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000) throw new UsageError('--repeat expects a count from 1 to 1000');
    for (const k of ['weights', 'input', 'output'] as const) if (!values[k]) throw new UsageError(`missing --${k} FILE`);
    if (!BACKEND_CHOICES.includes(values.backend as BackendChoice)) throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
    const inputs = readSafetensors(values.input!);
    const weights = readSafetensors(values.weights!);
    const x = inputs.get('input');
    if (!x) throw new UserError(`${values.input}: no tensor named 'input' (found: ${[...inputs.keys()].join(', ') || 'none'})`);
    if (x.dtype !== 'F32') throw new UserError(`${values.input}: tensor 'input' is ${x.dtype}, expected F32`);
    const spatial = x.shape.slice(2);
    const r = networkFromArgs(positionals[0], { ...values, 'input-size': values['input-size'] ?? spatial.join(',') });
    if (!r) return 1;
    const ir = r.ir;
    if (x.shape.length !== ir.spatialDims + 2 || x.shape[1] !== ir.input.channels) {
      throw new UserError(`${values.input}: 'input' has shape [${x.shape}] but the network takes [N, ${ir.input.channels}, ${ir.spatialDims === 3 ? 'D, H, W' : 'H, W'}]`);
    }
    checkInputSize(r, spatial, values.input!);
    const backend = await useBackend(values.backend as BackendChoice);
    process.stderr.write(`backend: ${backend}\n`);
    const model = buildModel(ir);
    loadWeights(model, weights, values.weights!);
    const last = channelsFirstToLast({ shape: x.shape, data: x.data as Float32Array });
    const input = tf.tensor(last.data, last.shape, 'float32');
    const times: number[] = [];
    let result: TensorMap = new Map();
    for (let r = 0; r < repeat; r++) {
      const t0 = performance.now();
      const outs = model.forward(input);
      result = new Map();
      for (let i = 0; i < outs.length; i++) {
        const o = outs[i]!;
        const host = channelsLastToFirst({ shape: o.shape, data: (await o.data()) as Float32Array });
        result.set(`out_${i}`, { dtype: 'F32', shape: host.shape, data: host.data });
      }
      times.push(performance.now() - t0);
      tf.dispose(outs);
    }
    input.dispose();
    model.dispose();
    writeSafetensors(values.output!, result);
    const best = Math.min(...times) / 1000;
    const timing = repeat > 1 ? `fastest of ${repeat} runs ${best.toFixed(3)} s (first ${(times[0]! / 1000).toFixed(3)} s)` : `${best.toFixed(3)} s`;
    process.stderr.write(`forward: ${result.size} output${result.size === 1 ? '' : 's'} in ${timing} → ${values.output}\n`);
    return 0;
  },
};
