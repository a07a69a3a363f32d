import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fail on a test that leaves an unhandled rejection behind: the runner promises never to cause one.
    dangerouslyIgnoreUnhandledErrors: false,
    testTimeout: 20_000,
  },
});
