// rewritePath (CONTRACT §6): a leading prefix of the raw `:path` replaced, the rest (query
// included) kept byte for byte. Pure; the result is checked again here because it goes to
// Envoy, which fails the whole request on a `:path` it cannot accept.
import type { CompiledRewrite } from '../matcher/compiledFlag.js';

/** Longest `:path` proflag sends (Envoy's default request-header budget is 60 KiB in all). */
export const MAX_REWRITTEN_PATH_LENGTH = 16_384;

/** True for a value Envoy accepts as `:path`: '/' first, printable characters only, bounded. */
export function isSendablePath(path: string): boolean {
  if (path.length === 0 || path.length > MAX_REWRITTEN_PATH_LENGTH || path.charCodeAt(0) !== 0x2f) return false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    // Controls, space and DEL; anything past latin1 cannot be one byte of a raw header value.
    if (c <= 0x20 || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/**
 * The new `:path`, or null when the request keeps its own: no raw path, a path that does not
 * start with the prefix, a rewrite that changes nothing, or a result Envoy would refuse.
 */
export function rewrittenPath(rawPath: string | null | undefined, rewrite: CompiledRewrite | null): string | null {
  if (rewrite === null || typeof rawPath !== 'string' || !rawPath.startsWith(rewrite.prefix)) return null;
  const next = rewrite.to + rawPath.slice(rewrite.prefix.length);
  return next !== rawPath && isSendablePath(next) ? next : null;
}
