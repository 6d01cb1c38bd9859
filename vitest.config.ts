import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // Examples import 'breakwater' as users do; tests resolve it to the sources, as tsconfig's paths do.
  resolve: {
    alias: [
      { find: /^breakwater$/, replacement: src('index.ts') },
      { find: /^breakwater\/(.+)$/, replacement: src('$1/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    pool: 'forks',
  },
});
