import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

/**
 * The console's build: served by `doppel serve` at /console/ from dist/console (built by `npm install`
 * through `prepare`). Everything it needs is in the bundle: nothing is loaded from elsewhere.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: "/console/",
  plugins: [preact()],
  build: {
    outDir: "../../dist/console",
    emptyOutDir: true,
    target: "es2022",
    // No source maps shipped: the bundle is what the first page costs (bench:console).
    sourcemap: false,
  },
});
