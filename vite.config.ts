// The web UI is a static bundle served by every Sundial node at `/`. In dev mode (`npm run dev:web`)
// Vite serves it with hot reload and proxies the API to a node on :8080 (override with SUNDIAL_URL).
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const target = process.env.SUNDIAL_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: 'src/web',
  plugins: [react()],
  build: {
    outDir: '../../dist/web',
    emptyOutDir: true,
    // One vendor chunk keeps the app chunk small and cacheable across UI-only changes.
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: {
      // The UI's own modules live under /api/*.ts in dev (src/web/api/), so only paths that
      // are not TypeScript sources go to the node. SSE passes through http-proxy unbuffered.
      '^/api/(?!.*\\.tsx?(?:\\?.*)?$)': { target, changeOrigin: true },
      '/healthz': { target },
      '/readyz': { target },
      '/metrics': { target },
    },
  },
});
