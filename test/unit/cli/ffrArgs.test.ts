// ffr's command lines and environment, parsed before anything connects.
import { describe, expect, it } from 'vitest';
import { FLAG_NAME_PATTERN } from '../../../src/flags/schema.js';
import { FLAG_NAME, parseCommand } from '../../../src/cli/ffr/args.js';
import { approveEdits } from '../../../src/cli/ffr/changeCommands.js';
import { CliFailure } from '../../../src/cli/ffr/output.js';
import { table } from '../../../src/cli/ffr/output.js';
import { translateCliArgs } from '../../../src/cli/ffr/session.js';

function usage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CliFailure);
    expect((err as CliFailure).exitCode).toBe(2);
    return (err as CliFailure).message;
  }
  throw new Error('expected a usage error');
}

describe('ffr arguments', () => {
  it('the flag name rule is the schema’s', () => {
    expect(FLAG_NAME.source).toBe(FLAG_NAME_PATTERN.source);
  });

  it.each([
    [['put', '-'], { kind: 'put', src: '-' }],
    [['get', 'a', '--raw'], { kind: 'get', name: 'a', raw: true }],
    [['import', 'f.json', '--replace'], { kind: 'import', src: 'f.json', replace: true }],
    [['history', 'a', '-n', '5'], { kind: 'history', name: 'a', count: 5 }],
    [['shadow', 'a'], { kind: 'shadow', name: 'a' }],
    [
      [
        'approve',
        'p1',
        'blocked',
        '--respond',
        '429',
        '--per-second',
        '50',
        '--route',
        'tarpit',
        '--shadow',
        '--enable',
      ],
      {
        kind: 'approve',
        id: 'p1',
        options: {
          name: 'blocked',
          enable: true,
          force: false,
          shadow: true,
          route: 'tarpit',
          respond: { status: 429, perSecond: 50 },
        },
      },
    ],
    [['approve', 'p1', '--respond', '503'], { kind: 'approve', options: { respond: { status: 503, perSecond: 100 } } }],
  ])('%j', (argv, expected) => {
    expect(parseCommand(argv[0]!, argv.slice(1))).toMatchObject(expected);
  });

  it.each([
    [['get'], 'get needs NAME'],
    [['get', 'a', 'b'], 'get takes one NAME'],
    [['list', 'x'], 'list takes no arguments'],
    [['approve', 'p1', '--per-second', '5'], '--per-second goes with --respond STATUS'],
    [['approve', 'p1', '--respond', '700'], '--respond needs a whole number from 200 to 599'],
    [['approve', 'p1', '--route', 'a b'], 'is not a cluster name'],
    [['history', '-n'], '-n needs a number'],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ])('%j is a usage error', (argv, message) => {
    expect(usage(() => parseCommand(argv[0]!, argv.slice(1)))).toContain(message);
  });

  it('approve options become the flag fields of CONTRACT §6, and the audit says which', () => {
    const { mutate, detail } = approveEdits({
      name: null,
      enable: false,
      force: false,
      shadow: true,
      route: 'tarpit',
      respond: { status: 429, perSecond: 100 },
    });
    const doc = mutate({ name: 'x', enabled: false, actions: { requestHeaders: { set: { a: 'b' } } } });
    expect(doc).toEqual({
      name: 'x',
      enabled: false,
      mode: 'shadow',
      respondLimit: { perSecond: 100 },
      actions: { requestHeaders: { set: { a: 'b' } }, respond: { status: 429 }, route: { cluster: 'tarpit' } },
    });
    expect(detail).toEqual(['respond 429 (limit 100/s)', 'route tarpit', 'shadow']);
  });

  it('PROFLAG_REDIS_CLI_ARGS: TLS options become PROFLAG_REDIS_TLS_*; -c and the rest are refused', () => {
    expect(
      translateCliArgs({ REDIS_URL: 'redis://h:1', PROFLAG_REDIS_CLI_ARGS: '--tls --cacert /ca.pem --sni redis.x' }),
    ).toMatchObject({
      REDIS_URL: 'rediss://h:1',
      PROFLAG_REDIS_TLS_CA_FILE: '/ca.pem',
      PROFLAG_REDIS_TLS_SERVERNAME: 'redis.x',
    });
    expect(usage(() => translateCliArgs({ PROFLAG_REDIS_CLI_ARGS: '-c' }))).toContain('PROFLAG_REDIS_CLUSTER_NODES');
    expect(usage(() => translateCliArgs({ PROFLAG_REDIS_CLI_ARGS: '-n 2' }))).toContain("got '-n'");
    expect(
      usage(() => translateCliArgs({ PROFLAG_REDIS_CLI_ARGS: '--cacert /a', PROFLAG_REDIS_TLS_CA_FILE: '/b' })),
    ).toContain('disagree');
  });

  it('tables align columns and leave the last one unpadded', () => {
    expect(
      table([
        ['A', 'BB', 'C'],
        ['long', 'x', 'last column'],
      ]),
    ).toBe('A     BB  C\nlong  x   last column\n');
  });
});
