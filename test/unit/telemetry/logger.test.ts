// The logger: JSON lines by default, readable lines when asked (a terminal), redaction in both.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/telemetry/logger.js';

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('createLogger', () => {
  it('writes JSON lines, with raw user agents and IPs redacted', () => {
    const out = capture();
    createLogger('info', out.stream).info({ ip: '203.0.113.9', flags: 3 }, 'proflag started');
    const line = JSON.parse(out.text()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 30, service: 'proflag', msg: 'proflag started', flags: 3, ip: '[redacted]' });
  });

  it('writes readable lines when pretty, redaction included', () => {
    const out = capture();
    createLogger('info', out.stream, { pretty: true }).warn(
      { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/127.0', flags: 3 },
      'PROFLAG_UA_HASH_KEY is not set',
    );
    const text = out.text();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: PROFLAG_UA_HASH_KEY is not set\n/);
    expect(text).toContain('flags: 3');
    expect(text).toContain('userAgent: "[redacted]"');
    expect(text).not.toContain('Firefox');
    expect(text).not.toContain('{"level"');
  });

  it('is JSON when a destination is given and pretty is not asked for', () => {
    const out = capture();
    createLogger('debug', out.stream).debug('x');
    expect(() => JSON.parse(out.text()) as unknown).not.toThrow();
  });
});
