import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  buildSnapshot,
  describeIssues,
  documentsDigest,
  printableKey,
  RejectionReporter,
  validateDocuments,
} from '../../../src/store/snapshotBuilder.js';
import { captureLogger, flagJson, recordingMetrics } from '../../helpers/storeKit.js';
import { compileSnapshot } from '../../../src/matcher/compile.js';

const doc = (key: string, text: string) => ({ key, text });

describe('validateDocuments', () => {
  it('accepts valid documents in key order and rejects each bad one with a reason', () => {
    const r = validateDocuments(
      [
        doc('b', flagJson('b')),
        doc('a', flagJson('a')),
        doc('bad-json', '{'),
        doc('Upper', flagJson('upper')),
        doc('mismatch', flagJson('other')),
        doc('typed', JSON.stringify({ name: 'typed', enabled: 'no' })),
      ],
      { keyIsName: true },
    );
    expect(r.flags.map((f) => f.name)).toEqual(['a', 'b']);
    expect(r.accepted.map((d) => d.key)).toEqual(['a', 'b']);
    expect(r.rejected).toEqual([
      { key: 'Upper', reason: expect.stringMatching(/not a valid flag name/) },
      { key: 'bad-json', reason: expect.stringMatching(/^\(document\): invalid JSON/) },
      { key: 'mismatch', reason: 'name: "other" does not match its key' },
      { key: 'typed', reason: expect.stringMatching(/^enabled: /) },
    ]);
  });

  it('keeps unknown fields as warnings', () => {
    const r = validateDocuments([doc('a', flagJson('a', { later: 1 }))], { keyIsName: true });
    expect(r.flags).toHaveLength(1);
    expect(r.warnings).toEqual([{ key: 'a', warning: "unknown field 'later' kept but ignored" }]);
  });

  it('files: the file named after the flag wins a duplicate name, else the first file', () => {
    const opts = { keyIsName: false, canonicalKey: (n: string) => `${n}.json` };
    const r = validateDocuments(
      [doc('aaa.json', flagJson('x')), doc('x.json', flagJson('x')), doc('zzz.json', flagJson('x'))],
      opts,
    );
    expect(r.accepted.map((d) => d.key)).toEqual(['x.json']);
    expect(r.rejected.map((x) => [x.key, x.reason])).toEqual([
      ['aaa.json', 'name: "x" is already defined by x.json'],
      ['zzz.json', 'name: "x" is already defined by x.json'],
    ]);
    const r2 = validateDocuments([doc('b.json', flagJson('y')), doc('a.json', flagJson('y'))], opts);
    expect(r2.accepted.map((d) => d.key)).toEqual(['a.json']);
  });

  it('bounds and escapes keys in reasons', () => {
    expect(printableKey('a\nb')).toBe('a\\x0ab');
    expect(printableKey('k'.repeat(500))).toHaveLength(80);
    const r = validateDocuments([doc('x'.repeat(300), '{}')], { keyIsName: true });
    expect(r.rejected[0]!.key.length).toBeLessThanOrEqual(80);
  });
});

describe('describeIssues', () => {
  it('never echoes user-agent values, and stays short', () => {
    const text = describeIssues([
      { path: 'profile.userAgent.similarTo[0]', message: 'Too big; got "Mozilla/5.0 secret"' },
      { path: 'enabled', message: 'expected boolean; got "yes"' },
    ]);
    expect(text).toBe('profile.userAgent.similarTo[0]: Too big; enabled: expected boolean; got "yes"');
    const many = Array.from({ length: 40 }, (_, i) => ({ path: `p${i}`, message: 'm'.repeat(100) }));
    const long = describeIssues(many);
    expect(long.length).toBeLessThanOrEqual(600);
  });

  it('says how many issues were left out', () => {
    const issues = Array.from({ length: 7 }, (_, i) => ({ path: `p${i}`, message: 'bad' }));
    expect(describeIssues(issues)).toMatch(/; and 2 more$/);
  });
});

describe('documentsDigest', () => {
  it('ignores order and sees every change of key or text', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ key: fc.string(), text: fc.string() }), { selector: (d) => d.key, maxLength: 8 }),
        (docs) => {
          const d = documentsDigest(docs);
          expect(documentsDigest([...docs].reverse())).toBe(d);
          if (docs.length > 0) {
            const changed = [...docs];
            changed[0] = { ...changed[0]!, text: `${changed[0]!.text}!` };
            expect(documentsDigest(changed)).not.toBe(d);
          }
        },
      ),
    );
    // No shifting of characters between key and text.
    expect(documentsDigest([doc('ab', 'c')])).not.toBe(documentsDigest([doc('a', 'bc')]));
  });
});

describe('buildSnapshot', () => {
  it('compiles the valid flags with the rejections in the meta', async () => {
    const built = await buildSnapshot(
      [doc('a', flagJson('a')), doc('b', '{')],
      { version: 3, source: 'redis' },
      (flags, meta) => compileSnapshot(flags, meta),
      { keyIsName: true },
    );
    expect(built.snapshot).toMatchObject({ version: 3, source: 'redis', flagCount: 1 });
    expect(built.snapshot.rejected.map((r) => r.key)).toEqual(['b']);
    expect(built.compileSeconds).toBeGreaterThanOrEqual(0);
  });
});

describe('RejectionReporter', () => {
  it('warns once per rejection while it persists, and says when it is gone', () => {
    const log = captureLogger();
    const metrics = recordingMetrics();
    const reporter = new RejectionReporter(log.logger, metrics);
    const bad = [{ key: 'x', reason: 'enabled: bad' }];
    reporter.report(bad, []);
    reporter.report(bad, []);
    reporter.report([{ key: 'x', reason: 'enabled: other' }], []);
    reporter.report([], []);
    expect(log.lines.map((l) => [l.level, l.msg])).toEqual([
      [40, 'flag rejected; the other flags keep serving'],
      [40, 'flag rejected; the other flags keep serving'],
      [30, 'flag no longer rejected'],
      [30, 'flag no longer rejected'],
    ]);
    expect(metrics.events.filter(([n]) => n === 'flagsRejected').map(([, a]) => a[0])).toEqual([1, 1]);
    expect(metrics.events.filter(([n]) => n === 'rejectedFlags').map(([, a]) => a[0])).toEqual([1, 1, 1, 0]);
  });
});
