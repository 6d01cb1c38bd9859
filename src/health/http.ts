import type { ComponentHealth, HealthReport } from './health.js';

/** Stands in for a detail that JSON cannot hold (cyclic, a `toJSON` that throws, a hostile Proxy). */
export const UNSERIALIZABLE = '[unserializable]';
/** Stands in for an Error inside a detail: its message may name hosts, paths or queries. */
export const ERROR = '[error]';

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  return value instanceof Error ? ERROR : value;
}

/**
 * One component as JSON for HTTP clients. `publicDetail` replaces the detail of a failed
 * check (the programmatic report keeps what it threw); a detail that cannot be serialized
 * becomes a marker, so one bad check never costs the whole answer.
 */
function componentJson(c: ComponentHealth, publicDetail: (c: ComponentHealth) => unknown): string {
  const head: Record<string, unknown> = {
    name: c.name,
    kind: c.kind,
    critical: c.critical,
    status: c.status,
  };
  if (c.retryAfter !== undefined) head.retryAfter = c.retryAfter;
  if (c.reason !== undefined) head.reason = c.reason;
  try {
    return JSON.stringify({ ...head, detail: publicDetail(c) }, replacer);
  } catch {
    return JSON.stringify({ ...head, detail: UNSERIALIZABLE });
  }
}

/** The report as the HTTP body: never throws, whatever the checks returned. */
export function reportJson(report: HealthReport, publicDetail: (c: ComponentHealth) => unknown): string {
  const parts = report.components.map((c) => componentJson(c, publicDetail));
  const retryAfter = report.retryAfter === undefined ? '' : `,"retryAfter":${report.retryAfter}`;
  return `{"status":${JSON.stringify(report.status)}${retryAfter},"components":[${parts.join(',')}]}`;
}

/** The body of a 500: generic, since the error behind it may carry internal detail. */
export const FAILED_BODY = '{"status":"unhealthy","error":"health report failed"}';
