import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { parseSafetensors, serializeSafetensors, SafetensorsError, type TensorMap } from './safetensors-format.js';

/** safetensors files: read and written through the byte format of ./safetensors-format.ts. */
export * from './safetensors-format.js';

export function readSafetensors(path: string): TensorMap {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseSafetensors(bytes, path).tensors;
}

export function writeSafetensors(path: string, tensors: TensorMap, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

