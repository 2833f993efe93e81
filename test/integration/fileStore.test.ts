// FileStore on a real folder: load the shipped examples, reject bad files, follow changes.
import { cp, mkdir, mkdtemp, readdir, rm, unlink, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/fileStore.js';
import { SnapshotHolder } from '../../src/store/snapshotHolder.js';
import { captureLogger, countingCompile, flagJson, recordingMetrics, sleep, waitFor } from '../helpers/storeKit.js';

const EXAMPLES = new URL('../../examples/flags/', import.meta.url).pathname;

let dir: string;
let stores: FileStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'proflag-files-'));
});

afterEach(async () => {
  await Promise.all(stores.map((s) => s.close()));
  stores = [];
  await rm(dir, { recursive: true, force: true });
});

function make(folder = dir, rescanMs = 2000) {
  const holder = new SnapshotHolder();
  const log = captureLogger();
  const metrics = recordingMetrics();
  const compiles = countingCompile();
  const store = new FileStore({
    dir: folder,
    logger: log.logger,
    metrics,
    compile: compiles.compile,
    holder,
    debounceMs: 20,
    rescanMs,
  });
  stores.push(store);
  return { store, holder, log, metrics, compiles };
}

const names = (h: SnapshotHolder) => h.current.flags.map((f) => f.name).sort();

describe('FileStore', () => {
  it('loads every shipped example flag', async () => {
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.json'));
    const s = make(EXAMPLES);
    await s.store.start();
    expect(s.store.ready).toBe(true);
    expect(s.holder.current.rejected).toEqual([]);
    expect(s.holder.current.flagCount).toBe(files.length);
    expect(s.holder.current.version).toBeNull();
    expect(s.holder.current.source).toBe(`file:${EXAMPLES.replace(/\/$/, '')}`);
  });

  it('rejects bad files by file name and serves the others; ignores non-JSON files', async () => {
    await cp(join(EXAMPLES, 'checkout-v2.json'), join(dir, 'checkout-v2.json'));
    await writeFile(join(dir, 'second.json'), flagJson('second'));
    await writeFile(join(dir, 'broken.json'), '{"name": "broken",');
    await writeFile(join(dir, 'types.json'), JSON.stringify({ name: 'types', enabled: 1 }));
    await writeFile(join(dir, 'dup.json'), flagJson('second'));
    await writeFile(join(dir, 'README.md'), '# not a flag');
    await writeFile(join(dir, '.hidden.json'), 'garbage');
    await writeFile(join(dir, 'big.json'), flagJson('big', { description: 'b'.repeat(1_100_000) }));
    await writeFile(join(dir, 'huge.json'), 'h'.repeat(4_000_000));
    const s = make();
    await s.store.start();
    expect(names(s.holder)).toEqual(['checkout-v2', 'second']);
    const rejected = Object.fromEntries(s.holder.current.rejected.map((r) => [r.key, r.reason]));
    expect(Object.keys(rejected).sort()).toEqual(['big.json', 'broken.json', 'dup.json', 'huge.json', 'types.json']);
    expect(rejected['big.json']).toMatch(/more than 1048576/);
    expect(rejected['huge.json']).toMatch(/4000000 bytes, too large/);
    expect(rejected['dup.json']).toMatch(/already defined by second\.json/);
    expect(rejected['types.json']).toMatch(/^enabled:/);
    expect(s.metrics.last('flagsRejected')).toEqual([5]);
  });

  it('follows additions, edits, renames and removals', async () => {
    await writeFile(join(dir, 'a.json'), flagJson('a'));
    const s = make();
    await s.store.start();
    expect(names(s.holder)).toEqual(['a']);

    await writeFile(join(dir, 'b.json'), flagJson('b'));
    const tAdd = await waitFor('b added', () => names(s.holder).includes('b'), 3000);

    await writeFile(join(dir, 'a.json'), flagJson('a', { enabled: false }));
    await waitFor('a disabled', () => !names(s.holder).includes('a'), 3000);

    // Editors that save by writing a temporary file and renaming it over the old one.
    await writeFile(join(dir, '.b.json.tmp'), flagJson('b', { priority: 9 }));
    await rename(join(dir, '.b.json.tmp'), join(dir, 'b.json'));
    await waitFor('b updated', () => s.holder.current.flags.find((f) => f.name === 'b')?.priority === 9, 3000);

    await unlink(join(dir, 'b.json'));
    await waitFor('b removed', () => !names(s.holder).includes('b'), 3000);
    console.info(`[file store] a new file served after ${tAdd.toFixed(0)} ms (debounce 20 ms)`);
  });

  it('does not recompile when a rescan finds nothing new', async () => {
    await writeFile(join(dir, 'a.json'), flagJson('a'));
    const s = make(dir, 50);
    await s.store.start();
    const after = s.compiles.calls();
    await sleep(300);
    expect(s.compiles.calls()).toBe(after);
    expect(s.metrics.count('reload', 'unchanged')).toBeGreaterThan(2);
  });

  it('starts on a missing folder (not ready) and loads it once it appears', async () => {
    const later = join(dir, 'later');
    const s = make(later, 50);
    await s.store.start();
    expect(s.store.ready).toBe(false);
    expect(s.holder.sync.lastError).toMatch(/reading the flag folder failed/);
    await mkdir(later);
    await writeFile(join(later, 'x.json'), flagJson('x'));
    await waitFor('x served', () => names(s.holder).includes('x'), 3000);
    expect(s.store.ready).toBe(true);
    await waitFor('watching', () => s.holder.sync.feedConnected, 3000);
  });
});
