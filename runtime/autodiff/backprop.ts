import * as tf from '@tensorflow/tfjs-core';
import { engineGradients, gradientDepth, recordTape, type TapeNode } from '../tfjs-internals.js';

/**
 * Reverse-mode gradients that free memory as the backward pass goes.
 *
 * TF.js's own `tf.grads` / `tf.variableGrads` keep, until the whole backward pass is over,
 * every tensor saved for backprop and the gradient of every intermediate tensor: at the end of
 * the backward pass a network's memory holds its activations twice over. Here the walk over the
 * tape is the same (reverse order of recording, same gradient functions, same accumulation by
 * addition, so the values are identical), but once a tape node has been differentiated its
 * saved tensors and the gradients of its outputs are released: those are read by that node
 * only. Peak memory becomes "what the forward pass saved, shrinking" plus a frontier of
 * gradients, as in PyTorch's autograd.
 *
 * This walks TF.js's tape, an engine internal (`state.activeTape`, `startTape`, `endTape`,
 * the tape node's `gradient` / `saved`), reached through runtime/tfjs-internals.ts, which checks
 * the installed version (the backprop tests compare with `tf.grads`).
 */

/** The tape nodes on a path from some x to y, in recording order (TF.js's own filter, restated). */
function nodesFromXsToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor, fromX = new Set<number>()): TapeNode[] {
  for (const x of xs) fromX.add(x.id);
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      nodeFromX.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const leadsToY = new Set([y.id]);
  const nodeToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => leadsToY.has(o.id))) {
      nodeToY.add(node.id);
      for (const t of Object.values(node.inputs)) leadsToY.add(t.id);
    }
  }
  return tape.filter((n) => nodeFromX.has(n.id) && nodeToY.has(n.id));
}

function disposeSaved(node: TapeNode): void {
  for (const t of node.saved ?? []) t.dispose();
  node.saved = [];
}

/**
 * Gradients of `f()` with respect to `xs` (null where y does not depend on an x), and f's value.
 * `dy` defaults to ones. Same contract as TF.js's `engine.gradients` with allowNoGradients.
 */
/** Whether a gradient is being recorded (inside tf.grads, variableGrads, `gradients` …). */
export function recordingGradients(): boolean {
  return gradientDepth() > 0;
}

export function gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor): { value: tf.Tensor; grads: Array<tf.Tensor | null> } {
  // Inside another gradient's forward pass (higher-order gradients) the outer tape must keep
  // everything: use TF.js's own walk there.
  if (gradientDepth() !== 0) {
    const r = engineGradients(f, xs, dy);
    return { value: r.value, grads: r.grads.map((g) => g ?? null) };
  }
  // A walk nested in another's backward pass (recomputation) finds that walk's tape, or
  // TF.js's, still set: recordTape puts it back once this forward pass has been recorded.
  const { value: y, tape } = recordTape(f);
  if (!(y instanceof tf.Tensor)) throw new Error('gradients: f() must return a tensor');
  // Tensors that depend on an x: only their gradients are computed (not, e.g., a gather's indices).
  const fromX = new Set<number>();
  const nodes = nodesFromXsToY(tape, xs, y, fromX);
  const onPath = new Set(nodes.map((n) => n.id));
  for (const node of tape) if (!onPath.has(node.id)) disposeSaved(node);
  try {
    const grads = tf.tidy('backward', () => {
      const keep = new Set(xs.map((x) => x.id));
      const acc = new Map<number, tf.Tensor>();
      acc.set(y.id, dy ?? tf.onesLike(y));
      for (let i = nodes.length - 1; i >= 0; i--) {
        const node = nodes[i]!;
        if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
        const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
        const names = Object.keys(node.inputs).filter((name) => fromX.has(node.inputs[name]!.id));
        const dxs = tf.tidy(() => {
          const fns = node.gradient!(dys);
          return names.map((name) => {
            const fn = fns[name];
            if (!fn) throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}.`);
            return fn();
          });
        });
        // A gradient function may hand back one of its dys or saved tensors (freed below), or
        // one tensor twice: own a copy.
        const owned = new Set<tf.Tensor>();
        for (let k = 0; k < dxs.length; k++) {
          const dx = dxs[k]!;
          if (owned.has(dx) || dys.includes(dx) || (node.saved ?? []).includes(dx)) dxs[k] = tf.clone(dx);
          owned.add(dxs[k]!);
        }
        // This node was the last reader of its outputs' gradients and of what it saved.
        for (const o of node.outputs) {
          const g = acc.get(o.id);
          if (g && !keep.has(o.id)) {
            g.dispose();
            acc.delete(o.id);
          }
        }
        disposeSaved(node);
        names.forEach((name, k) => {
          const x = node.inputs[name]!;
          const dx = dxs[k]!;
          if (dx.dtype !== 'float32') throw new Error(`Gradient of ${node.kernelName} for input ${name} must be float32, got ${dx.dtype}.`);
          if (!tf.util.arraysEqual(dx.shape, x.shape)) throw new Error(`Gradient of ${node.kernelName} for input ${name} has shape [${dx.shape}], input has [${x.shape}].`);
          const prev = acc.get(x.id);
          if (!prev) acc.set(x.id, dx);
          else {
            acc.set(x.id, tf.add(prev, dx));
            prev.dispose();
            dx.dispose();
          }
        });
      }
      const out: Record<string, tf.Tensor> = {};
      xs.forEach((x, k) => {
        const g = acc.get(x.id);
        if (g) out[k] = g;
      });
      return out;
    });
    return { value: y, grads: xs.map((_, k) => grads[k] ?? null) };
  } finally {
    for (const node of nodes) disposeSaved(node);
  }
}

/** `tf.grads(f)(xs, dy)` with early release: the gradient of f's value with respect to each x. */
export function grads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor): tf.Tensor[] {
  return tf.tidy(() => {
    const { value, grads: gs } = gradients(() => f(...xs), xs, dy);
    value.dispose();
    return gs.map((g, k) => g ?? tf.zerosLike(xs[k]!));
  });
}

/**
 * `tf.variableGrads` with early release: the scalar f() and its gradient for every trainable
 * variable (by variable name) it depends on.
 */
export function variableGrads(f: () => tf.Scalar, vars: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const list = vars.filter((v) => v.trainable);
  if (list.length === 0) throw new Error('variableGrads: no trainable variables');
  const { value, grads: gs } = gradients(f, list);
  if (value.rank !== 0) {
    const shape = value.shape;
    value.dispose();
    gs.forEach((g) => g?.dispose());
    throw new Error(`variableGrads: f() must return a scalar, got shape [${shape}]`);
  }
  const named: tf.NamedTensorMap = {};
  list.forEach((v, k) => {
    if (gs[k]) named[v.name] = gs[k]!;
  });
  return { value: value as tf.Scalar, grads: named };
}
