import { pathToFileURL } from 'node:url';

/** The build measured: BREAKWATER_DIST names another build directory, else the repository's `dist/`. */
export const distDir: URL = process.env.BREAKWATER_DIST
  ? pathToFileURL(`${process.env.BREAKWATER_DIST.replace(/\/$/, '')}/`)
  : new URL('../../dist/', import.meta.url);

/** The URL of one file of the build, e.g. `built('redis.js')`. */
export function built(file: string): string {
  return new URL(file, distDir).href;
}
