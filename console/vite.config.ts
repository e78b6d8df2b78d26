import { defineConfig } from "vite";

// Served by the service under /console (canhbao/console/routes.py): hashed file names in
// assets/ are cached for a year, index.html is always revalidated.
export default defineConfig({
  base: "/console/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
} as import("vite").UserConfig & { test: unknown });
