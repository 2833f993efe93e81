// Full validation for scripts/ffr: the same schema the sidecars use (src/flags/schema.ts),
// so a document that ffr accepts is one that every replica accepts.
//
//   node --import tsx scripts/validate-flag.ts < flag.json          one flag document
//   node --import tsx scripts/validate-flag.ts --many < flags.json  a JSON list of flags
//
// Prints nothing and exits 0 when all are valid; else one line per problem on stderr
// (`NAME: path: message`) and exits 1. Warnings (unknown fields) go to stderr, exit 0.
import { parseFlagDocument, formatIssues } from '../src/flags/schema.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function label(item: unknown, index: number): string {
  const name = (item as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name.length <= 80 ? name : `#${index + 1}`;
}

async function main(): Promise<number> {
  const many = process.argv.includes('--many');
  const text = await readStdin();
  let problems = 0;
  if (!many) {
    const result = parseFlagDocument(text);
    if (!result.ok) {
      process.stderr.write(`${formatIssues(result.issues)}\n`);
      return 1;
    }
    for (const w of result.warnings) process.stderr.write(`warning: ${result.flag.name}: ${w}\n`);
    return 0;
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (err) {
    process.stderr.write(`invalid JSON: ${(err as Error).message}\n`);
    return 1;
  }
  if (!Array.isArray(list)) {
    process.stderr.write('expected a JSON list of flags\n');
    return 1;
  }
  const seen = new Map<string, number>();
  list.forEach((item, index) => {
    const result = parseFlagDocument(JSON.stringify(item));
    if (!result.ok) {
      problems += 1;
      for (const issue of result.issues) {
        process.stderr.write(`${label(item, index)}: ${issue.path}: ${issue.message}\n`);
      }
      return;
    }
    const first = seen.get(result.flag.name);
    if (first !== undefined) {
      problems += 1;
      process.stderr.write(`${result.flag.name}: defined twice (#${first + 1} and #${index + 1})\n`);
      return;
    }
    seen.set(result.flag.name, index);
    for (const w of result.warnings) process.stderr.write(`warning: ${result.flag.name}: ${w}\n`);
  });
  return problems === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`validate-flag: ${err.message}\n`);
    process.exitCode = 2;
  },
);
