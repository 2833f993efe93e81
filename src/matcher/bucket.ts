// Stable bucketing of a rollout unit into [0, 1): the same flag, purpose and unit always land
// in the same place, on every replica and across restarts (no keys, no randomness).
import { hashString32 } from '../hash32.js';

export function unitBucket(flagName: string, purpose: string, unit: string): number {
  return hashString32(`${flagName}\u0000${purpose}\u0000${unit}`) / 0x1_0000_0000;
}
