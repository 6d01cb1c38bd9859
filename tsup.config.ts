import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    chaos: 'src/chaos/index.ts',
    prometheus: 'src/prometheus/index.ts',
    opentelemetry: 'src/opentelemetry/index.ts',
    pg: 'src/pg/index.ts',
    postgres: 'src/postgres/index.ts',
    redis: 'src/redis/index.ts',
    dashboard: 'src/dashboard/index.ts',
  },
  format: ['esm', 'cjs'],
  target: 'node20',
  platform: 'node',
  // stripInternal: members marked @internal are shared between breakwater's own modules, not API.
  dts: { compilerOptions: { ignoreDeprecations: '6.0', stripInternal: true } },
  // No source maps: the output is unminified, readable JS whose stack frames already name our
  // functions, and the maps were 61 % of the unpacked size.
  sourcemap: false,
  clean: true,
  splitting: true,
  treeshake: true,
});
