// Prisma CLI configuration. Prisma cannot download its native schema engine on machines that reach only the npm
// registry, so the CLI runs Prisma's own schema engine compiled to WebAssembly through the small executable in
// prisma/engine/ (see prisma/engine/README.md).
import path from 'node:path';
import { defineConfig } from 'prisma/config';

// Absolute, so that the CLI finds it from any working directory (it resolves a relative path against the cwd).
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(import.meta.dirname, 'prisma', 'engine', 'schema-engine.mjs');

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    // `generate` and `validate` need no database; every migrate command needs this database to exist, `migrate diff`
    // included (the engine connects at start), and `migrate dev`/`deploy` create it when it does not.
    url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/agentauth',
    // Unset: each command that needs a shadow database creates one on this server and drops it afterwards. Set it
    // where the user may not create databases; that database is emptied before each use.
    shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL,
  },
});
