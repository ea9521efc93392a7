// `npm run dev` proxies /graphql (and a development service's /dev/identity-assertion) to a service on :8080, so the SPA and the API share an origin.
import { defineConfig } from 'vite';

export default defineConfig({
  server: { proxy: { '/graphql': 'http://127.0.0.1:8080', '/dev': 'http://127.0.0.1:8080' } },
  build: { outDir: 'dist', emptyOutDir: true },
});
