/**
 * Registers TF.js's gradient functions on the shared tfjs-core instance. tfjs-core's Node
 * bundle ships without them and its ESM per-file build cannot be imported from Node (directory
 * imports), so the union package's Node bundle, which registers them on load, is imported for
 * that side effect only.
 */
import '@tensorflow/tfjs';
