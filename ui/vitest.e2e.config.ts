import { defineConfig } from "vitest/config";

// Browser tests against real daemons: one file, run in order, generous timeouts (each test
// starts processes, syncs through git and drives Chromium).
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    testTimeout: 90_000,
    hookTimeout: 90_000,
    fileParallelism: false,
    sequence: { concurrent: false },
    // The daemon answers in milliseconds here, but CI machines are shared and slower.
    expect: { poll: { timeout: 15_000, interval: 50 } },
  },
});
