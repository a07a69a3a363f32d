import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fail on a test that leaves an unhandled rejection behind: the runner promises never to cause one.
    dangerouslyIgnoreUnhandledErrors: false,
    testTimeout: 20_000,
    // `npm test -- --coverage`: v8 coverage of the library's own code.
    coverage: { provider: 'v8', include: ['src/**/*.ts'], reporter: ['text-summary', 'text', 'html'] },
  },
});
