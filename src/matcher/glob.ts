// Endpoint patterns (CONTRACT §3): matched against the normalized path, segment by segment.
// `*` matches exactly one segment, `**` (only as the last segment) any tail including none.
// Compiled once per snapshot into a single anchored RegExp per flag.

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function patternToRegExpSource(pattern: string): string {
  const segments = pattern.split('/').slice(1);
  let source = '';
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '**' && last) {
      // "/api/**" matches "/api" and everything below it.
      return `${source}(?:/.*)?`;
    }
    source += seg === '*' ? '/[^/]+' : `/${escapeRegExp(seg)}`;
  }
  return source;
}

/** One RegExp for a set of patterns: one test per request instead of one per pattern. */
export function compileEndpointPatterns(patterns: readonly string[]): RegExp {
  const alternatives = patterns.map((p) => (p === '/' ? '/' : patternToRegExpSource(p)));
  return new RegExp(`^(?:${alternatives.join('|')})$`);
}
