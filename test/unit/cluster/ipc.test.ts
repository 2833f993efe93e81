// The primary's asks to a worker and the worker's answers, without processes: the channel is
// a function, the worker side answers from a real (unloaded) sidecar state.
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AskChannel,
  answerAsk,
  isPrimaryMessage,
  isWorkerMessage,
  type PrimaryMessage,
} from '../../../src/cluster/ipc.js';
import type { ServingState } from '../../../src/admin/servingTopics.js';
import { SnapshotHolder } from '../../../src/store/snapshotHolder.js';
import { profileOf } from '../../helpers/profiles.js';

type Ask = Extract<PrimaryMessage, { proflag: 'ask' }>;

describe('AskChannel', () => {
  afterEach(() => vi.useRealTimers());

  it('matches answers to asks by id, in any order', async () => {
    const sent: Ask[] = [];
    const channel = new AskChannel((m) => (sent.push(m as Ask), true));
    const a = channel.ask('readiness', null, 1_000);
    const b = channel.ask('metrics', { x: 1 }, 1_000);
    expect(sent.map((m) => [m.topic, m.payload])).toEqual([
      ['readiness', null],
      ['metrics', { x: 1 }],
    ]);
    channel.onAnswer({ proflag: 'answer', id: sent[1]!.id, ok: true, value: 'B' });
    channel.onAnswer({ proflag: 'answer', id: sent[0]!.id, ok: false, error: 'broken' });
    await expect(b).resolves.toBe('B');
    await expect(a).rejects.toThrow('broken');
    expect(channel.pending).toBe(0);
  });

  it('gives up after the deadline and ignores a late answer', async () => {
    vi.useFakeTimers();
    const sent: Ask[] = [];
    const channel = new AskChannel((m) => (sent.push(m as Ask), true));
    const answer = channel.ask('explain', {}, 500);
    const settled = expect(answer).rejects.toThrow('no answer to explain within 500 ms');
    vi.advanceTimersByTime(501);
    await settled;
    channel.onAnswer({ proflag: 'answer', id: sent[0]!.id, ok: true, value: 'late' });
    expect(channel.pending).toBe(0);
  });

  it('fails at once when the channel is closed or cannot send', async () => {
    const dead = new AskChannel(() => false);
    await expect(dead.ask('readiness', null, 1_000)).rejects.toThrow('the worker channel is closed');
    const throwing = new AskChannel(() => {
      throw new Error('ERR_IPC_CHANNEL_CLOSED');
    });
    await expect(throwing.ask('readiness', null, 1_000)).rejects.toThrow('the worker channel is closed');

    const channel = new AskChannel(() => true);
    const pending = channel.ask('metrics', null, 1_000);
    channel.close('worker 2 exited');
    await expect(pending).rejects.toThrow('worker 2 exited');
    await expect(channel.ask('metrics', null, 1_000)).rejects.toThrow('worker 2 exited');
  });
});

describe('answerAsk (the worker side)', () => {
  const state: ServingState = {
    holder: new SnapshotHolder(),
    extract: ({ headers }) =>
      profileOf({ method: headers.get(':method') ?? '', endpoint: headers.get(':path') ?? null }),
    registry: new Registry(),
  };

  it('answers a topic from the serving state', async () => {
    const answer = await answerAsk(state, { proflag: 'ask', id: 7, topic: 'readiness', payload: null });
    expect(answer).toMatchObject({ proflag: 'answer', id: 7, ok: true, value: { ready: false, version: null } });
    const explained = await answerAsk(state, {
      proflag: 'ask',
      id: 8,
      topic: 'explain',
      payload: { headers: { ':method': 'GET', ':path': '/x' }, sourceAddress: null },
    });
    expect(explained).toMatchObject({ id: 8, ok: true, value: { flags: [], decision: { route: null, flags: [] } } });
    // What crosses the process boundary must survive a structured clone.
    expect(structuredClone(explained)).toEqual(explained);
  });

  it('turns an unknown topic or a failing handler into an error answer', async () => {
    const unknown = await answerAsk(state, { proflag: 'ask', id: 1, topic: 'nope' as never, payload: null });
    expect(unknown).toEqual({ proflag: 'answer', id: 1, ok: false, error: 'unknown topic nope' });
    const proto = await answerAsk(state, { proflag: 'ask', id: 2, topic: 'toString' as never, payload: null });
    expect(proto.ok).toBe(false);
    const failing = await answerAsk(
      {
        ...state,
        extract: () => {
          throw new Error('extract failed');
        },
      },
      { proflag: 'ask', id: 3, topic: 'explain', payload: { headers: {}, sourceAddress: null } },
    );
    expect(failing).toEqual({ proflag: 'answer', id: 3, ok: false, error: 'extract failed' });
  });

  it('tells its own messages from anything else on the channel', () => {
    expect(isWorkerMessage({ proflag: 'samples', profiles: [] })).toBe(true);
    expect(isWorkerMessage({ proflag: 'ask' })).toBe(false);
    expect(isWorkerMessage({ type: 'prom-client:getMetricsReq' })).toBe(false);
    expect(isWorkerMessage(null)).toBe(false);
    expect(isPrimaryMessage({ proflag: 'stop' })).toBe(true);
    expect(isPrimaryMessage({ proflag: 'up' })).toBe(false);
    expect(isPrimaryMessage('stop')).toBe(false);
  });
});
