import type { IRModel, IRNode } from '../../ir/types.js';

/**
 * Parameters, compute and activation memory per stage, from the IR alone.
 * MACs count the multiply-accumulates of convolutions; FLOPs = 2·MACs plus one operation per
 * output element of every other op (norms, activations, adds) — the convention of fvcore-style
 * counters, stated in the output. Activation memory is the float32 size of every op's output
 * for one sample: what a training step keeps for the backward pass, without recomputation.
 */
export interface StageSummary {
  stage: string;
  params: number;
  macs: number;
  flops: number;
  activationBytes: number;
}

export interface ModelSummary {
  model: string;
  variant: string | null;
  inputChannels: number;
  inputSize: number[];
  params: number;
  macs: number;
  flops: number;
  activationBytes: number;
  stages: StageSummary[];
}

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

function numel(n: IRNode): number {
  return n.out.channels * (n.out.spatial ?? []).reduce((a, b) => a * b, 1);
}

export function summarize(ir: IRModel): ModelSummary {
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const sizes = new Map(ir.parameters.map((p) => [p.name, p.shape.reduce((a, b) => a * b, 1)]));
  const stages = new Map<string, StageSummary>();
  const stage = (name: string) => {
    if (!stages.has(name)) stages.set(name, { stage: name, params: 0, macs: 0, flops: 0, activationBytes: 0 });
    return stages.get(name)!;
  };
  for (const p of ir.parameters) {
    if (p.role === 'dummy' || p.role === 'buffer' || p.role === 'stat') continue;
    stage(p.name.split('.')[0]!).params += sizes.get(p.name)!;
  }
  for (const n of ir.nodes) {
    if (n.op === 'output' || n.op === 'input') continue;
    // Views and constants: no arithmetic, and no new activation worth keeping.
    if (n.op === 'reshape' || n.op === 'channels_last' || n.op === 'feature_map' || n.op === 'parameter' || n.op === 'buffer') continue;
    const s = stage(n.stage);
    const out = numel(n);
    if (n.op === 'conv' || n.op === 'conv_transpose') {
      const k = prod(n.attrs.kernel as number[]);
      const groups = n.attrs.groups as number;
      if (n.op === 'conv') {
        const cin = byId.get(n.inputs[0]!)!.out.channels;
        const macs = out * (cin / groups) * k;
        s.macs += macs;
        s.flops += 2 * macs + (n.attrs.bias ? out : 0);
      } else {
        const inNode = byId.get(n.inputs[0]!)!;
        const macs = numel(inNode) * (n.out.channels / groups) * k;
        s.macs += macs;
        s.flops += 2 * macs + (n.attrs.bias ? out : 0);
      }
    } else if (n.op === 'linear') {
      const cin = byId.get(n.inputs[0]!)!.out.channels;
      const macs = out * cin;
      s.macs += macs;
      s.flops += 2 * macs + (n.attrs.bias ? out : 0);
    } else if (n.op === 'matmul') {
      const a = byId.get(n.inputs[0]!)!.out;
      const macs = out * a.channels;
      s.macs += macs;
      s.flops += 2 * macs;
    } else {
      s.flops += out;
    }
    s.activationBytes += out * 4;
  }
  const list = [...stages.values()];
  const total = (k: keyof Omit<StageSummary, 'stage'>) => list.reduce((a, s) => a + s[k], 0);
  return {
    model: ir.name,
    variant: ir.variant,
    inputChannels: ir.input.channels,
    inputSize: ir.input.spatial ?? [],
    params: total('params'),
    macs: total('macs'),
    flops: total('flops'),
    activationBytes: total('activationBytes'),
    stages: list,
  };
}

function group(n: number): string {
  return n.toLocaleString('en-US');
}

export function renderSummary(s: ModelSummary): string {
  const rows = s.stages.map((st) => [st.stage, group(st.params), (st.macs / 1e9).toFixed(3), (st.flops / 1e9).toFixed(3), (st.activationBytes / 2 ** 20).toFixed(1)]);
  rows.push(['total', group(s.params), (s.macs / 1e9).toFixed(3), (s.flops / 1e9).toFixed(3), (s.activationBytes / 2 ** 20).toFixed(1)]);
  const head = ['stage', 'params', 'GMACs', 'GFLOPs', 'activations MiB'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  const title = `${s.model}${s.variant ? ` (variant ${s.variant})` : ''} — input ${s.inputChannels}×${s.inputSize.join('×')}, batch 1`;
  return [
    title,
    '',
    line(head),
    line(w.map((n) => '-'.repeat(n))),
    ...rows.slice(0, -1).map(line),
    line(w.map((n) => '-'.repeat(n))),
    line(rows[rows.length - 1]!),
    '',
    'params: trainable parameters (MedNeXt\'s unused dummy_tensor not counted).',
    'GMACs: multiply-accumulates of the convolutions; GFLOPs: 2·MACs + one per output element of every other op.',
    'activations: float32 outputs of every op for one sample (kept for the backward pass).',
  ].join('\n');
}
