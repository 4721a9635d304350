/**
 * The `tensorflow` backend: tfjs-node (or tfjs-node-gpu) built against a TensorFlow C library.
 * Returns null when the binding loaded and registered the backend, else the reason it did not.
 */
export async function loadTensorflowBinding(): Promise<string | null> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return null;
    } catch {
      // try the next one
    }
  }
  return 'tfjs-node is not installed (run `mnxc setup tensorflow`)';
}
