/**
 * UpKern's weight map as data: what the compiler's UpKern pass (compiler/passes/upkern.ts)
 * hands to the runtime's weight resampler (runtime/weights/upkern-apply.ts). Entries are matched
 * by state_dict name; see the pass for how each action is chosen.
 */

export type WeightAction = 'copy' | 'resample' | 'fresh' | 'dropped';

export interface WeightMapEntry {
  name: string;
  action: WeightAction;
  /** Shape in the source network (null for `fresh`). */
  from: number[] | null;
  /** Shape in the target network (null for `dropped`). */
  to: number[] | null;
}

export interface WeightMap {
  /** Target parameters in state_dict order, then the dropped source parameters. */
  entries: WeightMapEntry[];
  errors: string[];
  warnings: string[];
}
