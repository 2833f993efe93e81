// How ffr talks back: results on stdout, problems on stderr as `ffr: ...`, and exit codes
// 0 (done), 1 (refused or failed), 2 (usage error).

export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** Refused or failed: exit 1. */
export function fail(message: string): never {
  throw new CliFailure(message, 1);
}

/** Wrong usage: exit 2, with a pointer to --help. */
export function usageError(message: string): never {
  throw new CliFailure(message, 2);
}

export function warn(message: string): void {
  process.stderr.write(`ffr: warning: ${message}\n`);
}

/** Rows as aligned columns: two spaces between columns, the last one unpadded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]!) : cell))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Lines indented under a heading, for lists of problems. */
export function indented(lines: readonly string[]): string {
  return lines.map((l) => `  ${l}`).join('\n');
}
