// Vite builds the single-page app into dist/ (index.html plus hashed files under
// dist/assets/), which the nginx gateway serves at /. `npm run dev` serves the sources with
// the API proxied to a local gateway on :8080.
//
// The API reference goes to dist/api/docs/ (served by the gateway at /api/docs/): the page in
// api-docs/, Swagger UI's files from npm's swagger-ui-dist (nothing from a CDN) and the merged
// OpenAPI document ../docs/openapi.json (written by `cargo run -p e2e --features openapi --bin
// railrush-openapi`).
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const swaggerUi = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

function apiReference() {
  return {
    name: 'railrush-api-reference',
    apply: 'build',
    closeBundle() {
      const out = join(here, 'dist', 'api', 'docs');
      mkdirSync(out, { recursive: true });
      const files = [
        [join(here, 'api-docs', 'index.html'), 'index.html'],
        [join(here, 'api-docs', 'init.js'), 'init.js'],
        [join(swaggerUi, 'swagger-ui-bundle.js'), 'swagger-ui-bundle.js'],
        [join(swaggerUi, 'swagger-ui.css'), 'swagger-ui.css'],
        [resolve(here, '..', 'docs', 'openapi.json'), 'openapi.json'],
      ];
      for (const [from, name] of files) copyFileSync(from, join(out, name));
    },
  };
}

export default defineConfig({
  plugins: [apiReference()],
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
