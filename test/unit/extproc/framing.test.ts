// gRPC length-prefixed framing: messages across and within chunks, the size limit checked on
// the prefix (before buffering), the compressed flag refused.
import { describe, expect, it } from 'vitest';
import { AssemblyBudget, frameMessage, MessageReader, type FrameProblem } from '../../../src/extproc/framing.js';

function reader(max = 1024, budget?: AssemblyBudget) {
  const messages: string[] = [];
  const problems: FrameProblem[] = [];
  const r = new MessageReader(
    max,
    {
      onMessage: (m) => messages.push(m.toString()),
      onFrameProblem: (p) => problems.push(p),
    },
    budget,
  );
  return { r, messages, problems };
}

describe('MessageReader', () => {
  it('hands out whole messages whatever the chunking', () => {
    const bytes = Buffer.concat(['one', '', 'three', 'x'.repeat(700)].map((s) => frameMessage(Buffer.from(s))));
    for (const size of [1, 2, 3, 5, 7, 64, bytes.length]) {
      const { r, messages } = reader();
      for (let i = 0; i < bytes.length; i += size) r.push(bytes.subarray(i, i + size));
      expect(messages).toEqual(['one', '', 'three', 'x'.repeat(700)]);
      expect(r.incomplete).toBe(false);
    }
  });

  it('knows when the stream ended in the middle of a frame', () => {
    const { r } = reader();
    r.push(frameMessage(Buffer.from('hello')).subarray(0, 7));
    expect(r.incomplete).toBe(true);
  });

  it('refuses a 2 GB length prefix at once, before any body byte', () => {
    const { r, messages, problems } = reader(4 * 1024 * 1024);
    const prefix = Buffer.from([0, 0x80, 0, 0, 0]);
    r.push(prefix);
    expect(problems).toEqual(['too-large']);
    r.push(Buffer.alloc(1024)); // ignored: the reader is done
    expect(messages).toEqual([]);
    expect(r.incomplete).toBe(false);
  });

  it('refuses a message over the limit by one byte, accepts one at the limit', () => {
    const ok = reader(10);
    ok.r.push(frameMessage(Buffer.alloc(10)));
    expect([ok.messages.length, ok.problems]).toEqual([1, []]);
    const big = reader(10);
    big.r.push(frameMessage(Buffer.alloc(11)));
    expect(big.problems).toEqual(['too-large']);
  });

  it('refuses the compressed flag', () => {
    const { r, problems } = reader();
    const f = frameMessage(Buffer.from('zz'));
    f[0] = 1;
    r.push(f);
    expect(problems).toEqual(['compressed']);
  });

  it('assembles messages across chunks only within the shared budget, and gives it back', () => {
    const budget = new AssemblyBudget(1000);
    const message = frameMessage(Buffer.from('m'.repeat(400)));
    // Two readers each start a 400-byte message: 800 of 1,000 reserved.
    const a = reader(4096, budget);
    const b = reader(4096, budget);
    a.r.push(message.subarray(0, 10));
    b.r.push(message.subarray(0, 10));
    expect(budget.usedBytes).toBe(800);
    // A third one would pass the budget: refused before its body is allocated.
    const c = reader(4096, budget);
    c.r.push(message.subarray(0, 10));
    expect(c.problems).toEqual(['over-budget']);
    expect(budget.usedBytes).toBe(800);
    // Completing a message gives its bytes back; a disposed (closed) reader too.
    a.r.push(message.subarray(10));
    expect(a.messages).toEqual(['m'.repeat(400)]);
    expect(budget.usedBytes).toBe(400);
    b.r.dispose();
    expect(budget.usedBytes).toBe(0);
    // Whole messages within one chunk never touch the budget.
    const d = reader(4096, new AssemblyBudget(0));
    d.r.push(Buffer.concat([message, message]));
    expect([d.messages.length, d.problems]).toEqual([2, []]);
    // A reader that fails for another reason gives back what it held.
    const e = reader(4096, budget);
    e.r.push(message.subarray(0, 10));
    expect(budget.usedBytes).toBe(400);
    const compressed = frameMessage(Buffer.from('zz'));
    compressed[0] = 1;
    e.r.push(Buffer.concat([message.subarray(10), compressed]));
    expect(e.problems).toEqual(['compressed']);
    expect(budget.usedBytes).toBe(0);
  });
});
