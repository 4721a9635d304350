import { describe, expect, it } from 'vitest';
import { TRAINING_BACKENDS, useTrainingBackend } from './backend.js';

describe('the training backend choice', () => {
  it('auto picks a backend with every gradient kernel, never wasm', async () => {
    const name = await useTrainingBackend('auto');
    expect(TRAINING_BACKENDS).toContain(name);
    expect(name).not.toBe('wasm');
  });

  it('refuses wasm by name, saying why', async () => {
    await expect(useTrainingBackend('wasm')).rejects.toThrow(/wasm backend cannot train/);
  });
});
