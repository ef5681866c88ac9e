import { defineConfig, type ProxyOptions } from 'vite';

// During development the console runs on Vite and the API on the Rust service; these are
// the API's paths, forwarded to it. In production the service serves both (`/ui/` here).
const apiOrigin = process.env.API_ORIGIN ?? 'http://localhost:8080';
const apiPaths = [
  '/session',
  '/catalog',
  '/query',
  '/accounts',
  '/timeseries',
  '/alerts',
  '/admin',
  '/audit',
  '/live',
  '/ingest',
  '/healthz',
  '/readyz',
];
const proxy: Record<string, ProxyOptions> = Object.fromEntries(apiPaths.map((path) => [path, { target: apiOrigin }]));

export default defineConfig({
  base: '/ui/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    target: 'es2022',
    // A strict Content-Security-Policy applies: no data: URIs, no inline scripts.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: { proxy },
  preview: { proxy },
});
