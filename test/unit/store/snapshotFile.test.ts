import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSnapshotFile, SNAPSHOT_FILE_FORMAT, writeSnapshotFile } from '../../../src/store/snapshotFile.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'proflag-snapfile-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('last-good snapshot file', () => {
  it('round-trips version and documents, creating the folder', async () => {
    const path = join(dir, 'nested', 'last-good.json');
    const documents = [
      { key: 'a', text: '{"name":"a","enabled":true}' },
      { key: 'b', text: '{"name":"b",\n"enabled":false}' },
    ];
    await writeSnapshotFile(path, { version: 12, savedAt: 99, documents });
    expect(await readSnapshotFile(path)).toEqual({ version: 12, savedAt: 99, documents });
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ format: SNAPSHOT_FILE_FORMAT });
  });

  it('reads a missing file as null', async () => {
    expect(await readSnapshotFile(join(dir, 'none.json'))).toBeNull();
  });

  it('refuses a file it does not understand', async () => {
    const path = join(dir, 'x.json');
    for (const body of [
      '{',
      '[]',
      '{"format":"other/1","version":1,"documents":[]}',
      `{"format":"${SNAPSHOT_FILE_FORMAT}","version":"1","documents":[]}`,
      `{"format":"${SNAPSHOT_FILE_FORMAT}","version":1,"documents":[{"key":1}]}`,
    ]) {
      await writeFile(path, body);
      await expect(readSnapshotFile(path), body).rejects.toThrow();
    }
  });
});
