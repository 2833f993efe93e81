// Part of `npm run build`, after tsc: the change scripts (src/changes/lua/*.lua) next to the
// compiled change path, and scripts/ffr's program as one bundled file, dist/cli/ffr.mjs.
// One file starts about twice as fast as the same code spread over dist/ (node resolves and
// reads ~150 modules of ioredis, zod and ours otherwise), and operators script ffr calls.
import { cpSync } from 'node:fs';
import { build } from 'esbuild';

cpSync('src/changes/lua', 'dist/changes/lua', { recursive: true });
// The bundle reads the scripts relative to itself (src/changes/luaScripts.ts).
cpSync('src/changes/lua', 'dist/cli/lua', { recursive: true });
await build({
  entryPoints: ['src/cli/ffr/main.ts'],
  outfile: 'dist/cli/ffr.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // ioredis and friends are CommonJS and require node's modules.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning',
});
