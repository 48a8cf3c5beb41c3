import { defineConfig } from 'vitest/config';

// One runner for every layer: unit, model (generated from the charts),
// integration (real sockets on loopback) and e2e (namespaces + TAP, root).
// The JSON report feeds the one-line summary that .ci/run prints.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: 'reports/vitest.json' }]],
  },
});
