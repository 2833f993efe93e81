import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

describe('error registry', () => {
  it('documents exactly the registered codes', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `(PROFLAG_ERR_[A-Z_]+)`/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('every code used in src/ is registered', () => {
    const used = new Set<string>();
    const walk = (dir: URL) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const url = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
        if (entry.isDirectory()) walk(url);
        else if (entry.name.endsWith('.ts'))
          for (const m of readFileSync(url, 'utf8').matchAll(/PROFLAG_ERR_[A-Z_]+/g)) used.add(m[0]);
      }
    };
    walk(new URL('../../src/', import.meta.url));
    for (const code of used) expect(Object.keys(ERROR_CODES), code).toContain(code);
  });
});
