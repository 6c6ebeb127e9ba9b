// Vite builds the single-page app into dist/ (index.html plus hashed files under
// dist/assets/), which the nginx gateway serves at /. `npm run dev` serves the sources with
// the API proxied to a local gateway on :8080.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2020',
    // Never inline assets as data: URLs into scripts; small files stay files.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8080' },
    },
  },
});
