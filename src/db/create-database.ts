// A DATABASE_URL naming a database that does not exist yet is the first thing most operators hit. When the role may
// create databases, the server creates it (as `prisma migrate deploy` would); when it may not, it stops with the
// exact command an administrator runs, rather than PostgreSQL's bare `database "..." does not exist`.
import os from 'node:os';
import pg from 'pg';
import type { Logger } from '../observability/logger.js';

const UNDEFINED_DATABASE = '3D000';
const INSUFFICIENT_PRIVILEGE = '42501';
const DUPLICATE_DATABASE = '42P04';

export class DatabaseMissingError extends Error {
  override name = 'DatabaseMissingError';
}

/** Makes sure the database of `url` exists: nothing to do, created now, or a DatabaseMissingError saying what to run. */
export async function ensureDatabaseExists(url: string, log: Logger): Promise<'exists' | 'created'> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await probe.connect();
    return 'exists';
  } catch (error) {
    if ((error as { code?: string }).code !== UNDEFINED_DATABASE) throw error;
  } finally {
    await probe.end().catch(() => undefined);
  }

  const target = new URL(url);
  const database = decodeURIComponent(target.pathname.slice(1));
  // Without a user in the URL, node-postgres connects as the OS user.
  const role = decodeURIComponent(target.username) || os.userInfo().username;
  const where = `${target.hostname}:${target.port || '5432'}`;
  const howToCreate =
    `create it as a PostgreSQL administrator, then start again: ` +
    `createdb -h ${target.hostname} -p ${target.port || '5432'} -U postgres -O ${role} ${database}   ` +
    `(or in psql: CREATE DATABASE ${pg.escapeIdentifier(database)} OWNER ${pg.escapeIdentifier(role)};)`;

  // The role's own connection to a database that exists on every server: the maintenance one, else template1.
  for (const maintenance of ['postgres', 'template1']) {
    const admin = new URL(url);
    admin.pathname = `/${maintenance}`;
    const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 10_000 });
    try {
      await client.connect();
    } catch {
      await client.end().catch(() => undefined);
      continue;
    }
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
      log.info({ database, server: where }, 'database did not exist: created it');
      return 'created';
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === DUPLICATE_DATABASE) return 'exists';
      if (code === INSUFFICIENT_PRIVILEGE) {
        throw new DatabaseMissingError(`database "${database}" does not exist on ${where} and role "${role}" may not create databases; ${howToCreate}`);
      }
      throw error;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  throw new DatabaseMissingError(`database "${database}" does not exist on ${where}; ${howToCreate}`);
}
