// Writes schema/flag.schema.json from the one flag schema in src/flags/schema.ts, for editors
// and for anyone validating flags outside proflag. `--check` fails when the file is out of date
// (CI runs it through `npm run check`).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { z } from 'zod';
import { flagSchema } from '../src/flags/schema.js';

const target = new URL('../schema/flag.schema.json', import.meta.url);

const generated = z.toJSONSchema(flagSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
const document = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://github.com/proflag/proflag/schema/flag.schema.json',
  title: 'proflag flag',
  description:
    'A proflag flag or learned proposal (CONTRACT §3). Generated from src/flags/schema.ts by `npm run schema`; do not edit.',
  ...Object.fromEntries(Object.entries(generated).filter(([k]) => k !== '$schema')),
};
const text = `${JSON.stringify(document, null, 2)}\n`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: reported below
  }
  if (current !== text) {
    process.stderr.write('schema/flag.schema.json is out of date: run `npm run schema` and commit it.\n');
    process.exit(1);
  }
  process.stdout.write('schema/flag.schema.json is current\n');
} else {
  mkdirSync(new URL('../schema/', import.meta.url), { recursive: true });
  writeFileSync(target, text);
  process.stdout.write(`wrote ${target.pathname}\n`);
}
