// Keeps a server process on the keys in the database: a rotation anywhere (the CLI, another process) reaches every
// process within moments through PostgreSQL LISTEN/NOTIFY, and within one poll interval if a notification was lost
// (listener disconnected, database restarted). The listener has a connection of its own, outside the pool: a
// LISTEN belongs to a session, and pooled connections are shared and recycled.
//
// On a change the keys are loaded and handed to `apply` (which rebuilds the provider). Failures keep the process on
// the keys it has, and are retried at the next notification or poll.
import pg from 'pg';
import type { PrismaClient } from '../db/client.js';
import type { Logger } from '../observability/logger.js';
import { KEYS_CHANNEL, loadKeys, readKeyVersion, type KeySet } from './key-store.js';
import { DEFAULT_KEY_POLL_INTERVAL_SECONDS } from './rotation-policy.js';

export const KEY_WATCHER_APPLICATION_NAME = 'agentauth-key-watcher';

export type KeyWatcherOptions = {
  databaseUrl: string;
  prisma: PrismaClient;
  kek: Buffer;
  /** The version of the key set this process serves now. */
  version: string;
  apply: (next: KeySet) => void;
  log: Logger;
  pollIntervalMs?: number;
  /** Backoff between reconnection attempts of the listener: doubles from min up to max. */
  reconnectDelayMs?: { min: number; max: number };
};

export type KeyWatcher = {
  /** Compares with the database now and applies a change; resolves when done (never rejects). */
  check(): Promise<void>;
  /** Whether the listener connection is up and LISTENing. */
  readonly listening: boolean;
  /** Stops listening and polling; after it resolves, `apply` is not called again. */
  close(): Promise<void>;
};

export function startKeyWatcher(options: KeyWatcherOptions): KeyWatcher {
  const watcher = new Watcher(options);
  watcher.start();
  return watcher;
}

/** How long a liveness query on the listener may take before the connection is considered dead. */
const PING_TIMEOUT_MS = 5_000;
const CLOSE_TIMEOUT_MS = 2_000;

class Watcher implements KeyWatcher {
  #version: string;
  #client: pg.Client | undefined;
  #listening = false;
  #closed = false;
  #attempt = 0;
  #pollTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #again = false;
  readonly #log: Logger;

  constructor(private readonly options: KeyWatcherOptions) {
    this.#version = options.version;
    this.#log = options.log.child({ component: 'key-watcher' });
  }

  get listening(): boolean {
    return this.#listening;
  }

  start(): void {
    void this.#connect();
    this.#pollTimer = setInterval(() => void this.#tick(), this.options.pollIntervalMs ?? DEFAULT_KEY_POLL_INTERVAL_SECONDS * 1000);
    this.#pollTimer.unref();
  }

  check(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    // One check at a time; a request arriving during one runs another right after it (it may have missed the change).
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      try {
        do {
          this.#again = false;
          await this.#checkOnce();
        } while (this.#again && !this.#closed);
      } finally {
        this.#checking = undefined;
      }
    })();
    return this.#checking;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    if (client) await endClient(client);
    await this.#checking;
  }

  async #checkOnce(): Promise<void> {
    try {
      if ((await readKeyVersion(this.options.prisma)) === this.#version || this.#closed) return;
      const keys = await loadKeys(this.options.prisma, this.options.kek);
      if (keys.version === this.#version || this.#closed) return;
      this.options.apply(keys);
      this.#log.info({ kid: keys.currentKid, version: keys.version, previous: this.#version }, 'keys changed: now signing with the current key');
      this.#version = keys.version;
    } catch (error) {
      this.#log.error({ err: error }, 'loading changed keys failed; still serving with the previous keys');
    }
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: KEY_WATCHER_APPLICATION_NAME,
      connectionTimeoutMillis: 5_000,
      // Lets the OS notice a peer that vanished without closing the connection.
      keepAlive: true,
    });
    this.#client = client;
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (message.channel === KEYS_CHANNEL) void this.check();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${KEYS_CHANNEL}`);
    } catch (error) {
      this.#lost(client, error);
      return;
    }
    if (client !== this.#client) return; // closed or lost meanwhile
    if (this.#attempt > 0) this.#log.info('listening for key changes again');
    this.#attempt = 0;
    this.#listening = true;
    // Whatever changed while nobody listened (before the first LISTEN, or during an outage) is found now.
    void this.check();
  }

  #lost(client: pg.Client, error?: unknown): void {
    if (client !== this.#client) return; // already handled, or closed on purpose
    this.#client = undefined;
    this.#listening = false;
    void endClient(client);
    if (this.#closed) return;
    const { min, max } = this.options.reconnectDelayMs ?? { min: 1_000, max: 30_000 };
    const delay = Math.min(max, min * 2 ** this.#attempt);
    this.#attempt += 1;
    this.#log.warn({ err: error, retryInMs: delay }, 'key change listener disconnected; reconnecting (polling continues meanwhile)');
    this.#reconnectTimer = setTimeout(() => void this.#connect(), delay);
    this.#reconnectTimer.unref();
  }

  /** The fallback poll, plus a liveness check of the listener: a half-open TCP connection never reports an error. */
  async #tick(): Promise<void> {
    await this.check();
    const client = this.#client;
    if (!client || !this.#listening) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`listener did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
        }),
      ]);
    } catch (error) {
      this.#lost(client, error);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Ends a connection, forcibly if the server does not answer (it may be gone). */
async function endClient(client: pg.Client): Promise<void> {
  client.removeAllListeners('notification');
  // Errors while ending are expected (the connection may already be broken); an unhandled 'error' event would crash.
  client.removeAllListeners('error');
  client.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
        resolve();
      }, CLOSE_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
}
