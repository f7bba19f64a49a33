// DATABASE_URL naming a database that does not exist: created when the role may, otherwise a message that names
// the command to run. Against the suite's real PostgreSQL server.
import { randomBytes } from 'node:crypto';
import { ensureDatabaseExists } from '../../src/db/create-database.js';
import { createLogger } from '../../src/observability/logger.js';
import { databaseUrl, testRun, withServerClient } from '../support/postgres-server.js';
import { spawnServer } from '../support/process.js';

const log = createLogger('silent');
const { serverUrl, prefix } = testRun();
const dropDatabase = (name: string) => withServerClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));

it('creates the missing database when the role may, and then finds it there', async () => {
  const name = `${prefix}${randomBytes(4).toString('hex')}_new`;
  try {
    await expect(ensureDatabaseExists(databaseUrl(serverUrl, name), log)).resolves.toBe('created');
    await expect(ensureDatabaseExists(databaseUrl(serverUrl, name), log)).resolves.toBe('exists');
  } finally {
    await dropDatabase(name);
  }
});

it('names the createdb command when the role may not create databases', async () => {
  const role = `${prefix}${randomBytes(4).toString('hex')}_role`;
  const password = randomBytes(12).toString('hex');
  const name = `${prefix}${randomBytes(4).toString('hex')}_missing`;
  await withServerClient(serverUrl, (client) => client.query(`CREATE ROLE ${role} LOGIN NOCREATEDB PASSWORD '${password}'`));
  try {
    const url = new URL(databaseUrl(serverUrl, name));
    url.username = role;
    url.password = password;
    const failure = ensureDatabaseExists(url.toString(), log);
    await expect(failure).rejects.toThrow(`database "${name}" does not exist`);
    await expect(failure).rejects.toThrow(`role "${role}" may not create databases`);
    await expect(failure).rejects.toThrow(`createdb -h ${url.hostname} -p ${url.port || '5432'} -U postgres -O ${role} ${name}`);
  } finally {
    await withServerClient(serverUrl, (client) => client.query(`DROP ROLE IF EXISTS ${role}`));
  }
});

it('npm start on a DATABASE_URL whose database does not exist creates it, migrates and serves', async () => {
  const name = `${prefix}${randomBytes(4).toString('hex')}_start`;
  const server = await spawnServer({ DATABASE_URL: databaseUrl(serverUrl, name), AGENTAUTH_KEK: randomBytes(32).toString('base64url') });
  try {
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect(server.logs.some((entry) => entry.msg === 'database did not exist: created it')).toBe(true);
  } finally {
    await server.terminate();
    await dropDatabase(name);
  }
}, 60_000);
