// Stable bucketing of a rollout unit into [0, 1): the same flag, purpose and unit always land
// in the same place, on every replica and across restarts (no keys, no randomness).
import { avalanche32, FNV_OFFSET, fnvStep, fnvString } from '../hash32.js';

/**
 * hashString32(`${flagName}\0${purpose}\0${unit}`) / 2^32, hashed part by part: the same code
 * units in the same order give the same value, without building the joined string per call.
 */
export function unitBucket(flagName: string, purpose: string, unit: string): number {
  let h = FNV_OFFSET >>> 0;
  h = fnvStep(fnvString(h, flagName), 0);
  h = fnvStep(fnvString(h, purpose), 0);
  return avalanche32(fnvString(h, unit)) / 0x1_0000_0000;
}
