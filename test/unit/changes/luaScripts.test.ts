// The change scripts are standalone files (each runs with plain redis-cli --eval), so the
// common part is repeated in each: it must stay identical. And their error replies map to
// the change path's refusals.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { refusalOf, scriptSource, type ScriptName } from '../../../src/changes/luaScripts.js';

const DIR = new URL('../../../src/changes/lua/', import.meta.url);
const SCRIPTS: ScriptName[] = ['put', 'delete', 'cas', 'approve', 'reject', 'import'];

function common(text: string): string {
  const start = text.indexOf('-- BEGIN common');
  const end = text.indexOf('-- END common');
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return text.slice(start, end);
}

describe('change scripts', () => {
  it('are exactly the files of src/changes/lua, each with the same common part', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.lua'));
    expect(files.sort()).toEqual(SCRIPTS.map((s) => `${s}.lua`).sort());
    const reference = common(scriptSource('put'));
    for (const name of SCRIPTS) {
      const text = readFileSync(new URL(`${name}.lua`, DIR), 'utf8');
      expect(scriptSource(name)).toBe(text);
      expect(common(text), name).toBe(reference);
      // Each says what it takes, for an operator reading it before a redis-cli --eval.
      expect(text.split('\n')[0], name).toMatch(/^-- proflag: /);
      expect(text, name).toMatch(/KEYS\[3/);
    }
  });

  it('every write comes after the checks: no SET, DEL or PUBLISH before the last error reply', () => {
    for (const name of SCRIPTS) {
      const body = scriptSource(name).slice(scriptSource(name).indexOf('-- END common'));
      const lastCheck = body.lastIndexOf('error_reply');
      const firstWrite = Math.min(
        ...['bump()', '"SET"', '"DEL"', '"PUBLISH"', '"ZREM"'].map((w) => body.indexOf(w)).filter((i) => i >= 0),
      );
      expect(firstWrite, name).toBeGreaterThan(lastCheck);
    }
  });

  it('turns error replies into refusals', () => {
    expect(refusalOf(new Error('ERR PROFLAG_NOFLAG'))?.refusal).toBe('not-found');
    expect(refusalOf(new Error('ERR PROFLAG_NOPROPOSAL'))?.refusal).toBe('not-found');
    expect(refusalOf(new Error('ERR PROFLAG_EXISTS'))?.refusal).toBe('exists');
    expect(refusalOf(new Error('ERR PROFLAG_CONFLICT'))?.refusal).toBe('conflict');
    const bad = refusalOf(new Error('PROFLAG_BADINPUT payload is not JSON'));
    expect(bad?.refusal).toBe('bad-input');
    expect(bad?.message).toContain('payload is not JSON');
    expect(refusalOf(new Error('NOSCRIPT No matching script'))).toBeNull();
  });
});
