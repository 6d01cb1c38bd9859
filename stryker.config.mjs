// Mutation testing with StrykerJS: `npm run mutate` (see MUTATION.md). Not part of CI: too slow.
// One folder at a time: `npm run mutate -- --mutate 'src/window/**/*.ts'`.

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: {
    configFile: 'vitest.config.ts',
    // Only the test files that import the mutated file (directly or not) run in the initial run.
    related: true,
  },
  // Every source file except the barrels (re-exports only; nothing to mutate).
  mutate: ['src/**/*.ts', '!src/**/index.ts'],
  // The unit and property tests. Left out: test/scenarios (real PostgreSQL, memory and event-loop
  // pressure), test/examples (child processes running the demo), test/types (tsc in a child) and
  // test/chaos/services.test.ts (real services): slow, and a child process runs unmutated code anyway.
  testFiles: [
    'test/*.test.ts',
    'test/{bulkhead,circuit-breaker,fallback,health,opentelemetry,pipeline,prometheus,property,retry,telemetry,timeout,window}/**/*.test.ts',
    'test/chaos/{fault-proxy,inject}.test.ts',
  ],
  coverageAnalysis: 'perTest',
  // The machine has 2 cores shared with others: one test runner. Raise it (`--concurrency 2`) on a
  // machine of your own.
  concurrency: 1,
  timeoutMS: 10_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 10,
  // Results are reused between runs: only mutants in changed code, or covered by changed tests,
  // run again. The file is machine-local (gitignored); `--force` ignores it.
  incremental: true,
  incrementalFile: '.tmp/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  clearTextReporter: { allowColor: false, reportTests: false },
  htmlReporter: { fileName: '.tmp/mutation/index.html' },
  jsonReporter: { fileName: '.tmp/mutation/mutation.json' },
  // Reported, never a failure: `npm run mutate` is a tool, not a gate (yet).
  thresholds: { high: 80, low: 60, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
