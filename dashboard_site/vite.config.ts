import { resolve } from "node:path";

import { defineConfig } from "vite";

const page = (name: string) => resolve(import.meta.dirname, `${name}.html`);

// One build, four pages; relative asset URLs so the site works under any path (S3 prefix too).
// `npm run dev` proxies the API and WebSocket to a running `stresslab demo` (STRESSLAB_URL).
const demo = process.env.STRESSLAB_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "./",
  // amazon-cognito-identity-js bundles the `buffer` package, which reads Node's `global`.
  define: { global: "globalThis" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      input: {
        index: page("index"),
        presentation: page("presentation"),
        analytics: page("analytics"),
        agents: page("agents"),
        admin: page("admin"),
      },
    },
  },
  server: {
    proxy: {
      "/config.json": demo,
      "/api": demo,
      "/ws": { target: demo.replace(/^http/, "ws"), ws: true },
    },
  },
});
