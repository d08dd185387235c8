import { defineConfig } from "vitest/config";

// Unit tests of the app's logic (no daemon, no browser). The browser tests are in e2e/ and run
// with vitest.e2e.config.ts.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
  },
});
