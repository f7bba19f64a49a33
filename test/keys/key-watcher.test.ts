// The key watcher on a real PostgreSQL database: a server process learns about key changes through NOTIFY at once,
// through the poll when no notification came, again after its listener connection was killed, and never after close.
import type { Database } from '../../src/db/client.js';
import { ensureKeys, loadKeys, rotateKeys, type KeySet, type RotationPolicy } from '../../src/keys/key-store.js';
import { KEY_WATCHER_APPLICATION_NAME, startKeyWatcher, type KeyWatcher, type KeyWatcherOptions } from '../../src/keys/key-watcher.js';
import { parseKek } from '../../src/keys/kek.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres-server.js';
import { newKek, openDatabase, waitFor } from '../support/keys.js';

let database: TestDatabase;
let db: Database;
let watcher: KeyWatcher | undefined;
const kek = parseKek(newKek());
const policy: RotationPolicy = { signingRetention: 100, cookieRetention: 1000, minNextAge: 0 };
const HOUR = 3_600_000;

beforeEach(async () => {
  database = await createTestDatabase();
  db = openDatabase(database.url);
  await ensureKeys(db.prisma, kek);
});
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await db.close();
  await database.drop();
});

async function watch(overrides: Partial<KeyWatcherOptions> = {}): Promise<{ applied: KeySet[]; logs: Array<Record<string, unknown>> }> {
  const applied: KeySet[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('info', { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  watcher = startKeyWatcher({
    databaseUrl: database.url,
    prisma: db.prisma,
    kek,
    version: (await loadKeys(db.prisma, kek)).version,
    apply: (keys) => applied.push(keys),
    log,
    pollIntervalMs: HOUR,
    ...overrides,
  });
  await waitFor(() => watcher!.listening, 5_000, 'listening');
  return { applied, logs };
}

async function watcherBackends(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = $2',
    [KEY_WATCHER_APPLICATION_NAME, database.name],
  );
  return rows[0]!.n;
}

it('applies a rotation announced by NOTIFY within moments, without polling', async () => {
  const { applied } = await watch();
  const rotation = await rotateKeys(db.prisma, kek, policy);

  // The poll runs hourly here: anything within seconds came through NOTIFY.
  const took = await waitFor(() => applied.length === 1, 5_000, 'keys applied');
  expect(took).toBeLessThan(2_500);
  expect(applied[0]!.currentKid).toBe(rotation.current);
  expect(applied[0]!.publicJwks.keys.map((k) => k.kid)).toContain(rotation.next);
});

it('finds a change that came without a notification at the next poll', async () => {
  const { applied } = await watch({ pollIntervalMs: 200 });
  const rotation = await rotateKeys(db.prisma, kek, policy);
  await waitFor(() => applied.length === 1, 3_000, 'rotation applied');

  // A change by hand (no NOTIFY): the retired key disappears from what this process publishes.
  await db.pool.query('DELETE FROM signing_keys WHERE kid = $1', [rotation.retired]);
  await waitFor(() => applied.length === 2, 3_000, 'change applied by polling');
  expect(applied[1]!.publicJwks.keys.map((k) => k.kid)).not.toContain(rotation.retired);
  expect(applied[1]!.currentKid).toBe(rotation.current);
});

it('reconnects after its connection is killed, catches up on what it missed and listens again', async () => {
  const { applied } = await watch({ reconnectDelayMs: { min: 700, max: 1_000 } });
  await db.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2', [
    KEY_WATCHER_APPLICATION_NAME,
    database.name,
  ]);
  await waitFor(() => !watcher!.listening, 3_000, 'disconnect noticed');

  // Rotated while nobody listens: the notification is lost, the reconnect finds the change anyway.
  const missed = await rotateKeys(db.prisma, kek, policy);
  await waitFor(() => applied.length === 1, 5_000, 'missed rotation applied');
  expect(applied[0]!.currentKid).toBe(missed.current);
  expect(watcher!.listening).toBe(true);

  const heard = await rotateKeys(db.prisma, kek, policy);
  expect(await waitFor(() => applied.length === 2, 5_000, 'notified rotation applied')).toBeLessThan(2_500);
  expect(applied[1]!.currentKid).toBe(heard.current);
});

it('keeps serving the keys it has when changed keys cannot be loaded, and says so in the log', async () => {
  const { applied, logs } = await watch({ kek: parseKek(newKek()) });
  await rotateKeys(db.prisma, kek, policy);

  await waitFor(() => logs.some((l) => l.msg === 'loading changed keys failed; still serving with the previous keys'), 3_000, 'failure logged');
  expect(applied).toEqual([]);
  const failure = logs.find((l) => l.level === 'error')!;
  expect(JSON.stringify(failure)).toMatch(/wrong AGENTAUTH_KEK/);
});

it('stops on close: its connection ends and later changes are not applied', async () => {
  const { applied } = await watch({ pollIntervalMs: 100 });
  expect(await watcherBackends()).toBe(1);
  await watcher!.close();
  expect(watcher!.listening).toBe(false);

  await waitFor(async () => (await watcherBackends()) === 0, 3_000, 'listener connection gone');
  await rotateKeys(db.prisma, kek, policy);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(applied).toEqual([]);
});
