import { defineConfig } from "vite";

// The build lands in the daemon crate, which embeds it with include_bytes!: fixed file names
// (no content hashes), one script, one stylesheet, nothing inline (the daemon's CSP forbids
// inline script). The output is committed so `cargo build` never needs Node.js.
export default defineConfig({
  base: "/",
  publicDir: "public",
  build: {
    outDir: "../crates/dotsync-daemon/ui-dist",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: false,
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        entryFileNames: "app.js",
        chunkFileNames: "app-[name].js",
        assetFileNames: (info) =>
          (info.names ?? []).some((n) => n.endsWith(".css")) ? "app.css" : "[name][extname]",
      },
    },
  },
  server: {
    // `npm run dev` proxies the API to a daemon: DOTSYNC_DEV_ADDR=127.0.0.1:PORT.
    proxy: process.env.DOTSYNC_DEV_ADDR
      ? { "/v1": { target: `http://${process.env.DOTSYNC_DEV_ADDR}`, changeOrigin: true } }
      : undefined,
  },
});
