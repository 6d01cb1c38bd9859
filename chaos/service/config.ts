/** What the chaos runner tells the service under test, as JSON in the CHAOS_SERVICE_CONFIG variable. */
export interface ServiceConfig {
  /** The service's own PostgreSQL (a throwaway one). */
  pg: { host: string; port: number };
  /** The service's own Redis (a throwaway one). */
  redis: { host: string; port: number };
  /** Where the durable task journal and the breaker snapshot live. */
  workDir: string;
  /** Timeout (ms) of one database call. */
  dbTimeout: number;
  /** Timeout (ms) of one Redis call. */
  redisTimeout: number;
  /** Connections in the database pool. */
  poolSize: number;
  /** Heap used (bytes) above which the service reports memory pressure and stops background work. */
  maxHeapUsed: number;
  /** Event-loop delay (ms) above which low-priority work is shed. */
  maxEventLoopDelay: number;
  /** CPU time (ms) each read spends rendering its answer: what makes a saturated CPU felt. */
  cpuPerRead: number;
  /** Optional breakwater capabilities to use when their module is there: 'shedder', 'adaptive-limit'. */
  use: string[];
  /** 'budget-only': a database breaker that never opens, to show the retry budget alone. @default 'normal' */
  breakerMode?: 'normal' | 'budget-only';
  /** Which pressure signals the load shedder watches. @default ['eventLoopDelay'] */
  shedOn: ('eventLoopDelay' | 'heap')[];
  /** Where accepted tasks wait while the database cannot take them. @default 'journal' */
  taskStore?: 'journal' | 'deferred-postgres';
  /** The deferred queue's own PostgreSQL (for taskStore 'deferred-postgres'). */
  queuePg?: { host: string; port: number };
  /** false: reads get no stale fallback, so a failed read reaches the client. @default true */
  staleReads?: boolean;
  /** The HTTP port; 0 takes a free one. A restarted service keeps its port. */
  port?: number;
}

export const SERVICE_DEFAULTS: Omit<ServiceConfig, 'pg' | 'redis' | 'workDir'> = {
  dbTimeout: 800,
  redisTimeout: 150,
  poolSize: 8,
  maxHeapUsed: 160 * 1024 * 1024,
  maxEventLoopDelay: 60,
  cpuPerRead: 0,
  use: [],
  shedOn: ['eventLoopDelay'],
};

/** Live numbers of the service, served on GET /_chaos/stats for the runner's timeline and checks. */
export interface ServiceStats {
  pid: number;
  /** ms since the service started. */
  uptime: number;
  breakers: { db: string; dbWrite: string; redis: string };
  health: string;
  /** Tasks waiting in the durable queue (accepted with 202, not yet in the database). */
  queueDepth: number;
  tasks: { stored: number; queued: number; drained: number; processed: number; refused: number };
  /** Calls the service made to the database (every attempt) and the requests that started them. */
  db: {
    attempts: number;
    calls: number;
    /** Calls through the retry policy (reads): what the retry budget's ratio applies to. */
    readCalls: number;
    retries: number;
    budgetExhausted: number;
    timeouts: number;
  };
  redis: { timeouts: number; fallbacks: number };
  breakerEvents: { at: number; breaker: string; from: string; to: string; openFor?: number }[];
  healthEvents: { at: number; from: string; to: string }[];
  memory: { heapUsed: number; heapLimit: number; ballast: number; pressure: boolean };
  eventLoopDelay: number;
  shedding: boolean;
  shed: number;
  backgroundPaused: boolean;
  poolMax: number;
  /** The adaptive concurrency limit on database calls, when the service uses one. */
  dbLimit: number | null;
  /** Which optional breakwater capabilities the service is using (loadShedder, deferred queue, ...). */
  capabilities: Record<string, string>;
  restoredBreaker: string | null;
  restoredTasks: number;
}
