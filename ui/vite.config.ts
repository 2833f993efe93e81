// The console's build: `npm run build` (vite build --config ui/vite.config.ts) bundles the page
// into dist/ui, served by the admin port at /ui (src/admin/ui.ts). Everything is bundled (no
// CDN); Preact's JSX is compiled by Vite's own transformer (no Babel).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/ui/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/ui'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // The page is small; say so loudly if it stops being small.
    chunkSizeWarningLimit: 120,
    rolldownOptions: {
      input: { index: here('index.html'), login: here('login.html') },
    },
  },
});
