/**
 * The service under test, run by the chaos runner as a child process (so that a scenario
 * can SIGKILL it, fill its heap or burn its CPU): `CHAOS_SERVICE_CONFIG='{...}' tsx chaos/service/main.ts`.
 * Prints one line `READY {"url": ...}` once it listens.
 */
import { startApp } from './app.js';
import { SERVICE_DEFAULTS, type ServiceConfig } from './config.js';

const raw = process.env.CHAOS_SERVICE_CONFIG;
if (!raw) throw new Error('CHAOS_SERVICE_CONFIG is not set: this is started by chaos/run.ts');
const config: ServiceConfig = {
  ...SERVICE_DEFAULTS,
  ...(JSON.parse(raw) as Partial<ServiceConfig>),
} as ServiceConfig;
const app = await startApp(config);
process.stdout.write(`READY ${JSON.stringify({ url: app.url, pid: process.pid })}\n`);

let closing = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(0), 3_000);
    force.unref();
    void app.close().finally(() => process.exit(0));
  });
}
// The runner owns this process: when its pipe closes (the runner died), stop too.
process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();
