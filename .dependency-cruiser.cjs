// The architecture rules, held in CI (`npm run lint:architecture`, run by .ci/run):
//  - the policy module is pure: no Koa, Prisma, pg or oidc-provider, nothing with I/O;
//  - only store modules (and the composition root, migrations and the audit/revocation/key services that own their
//    tables) import the Prisma client or pg: pages, admin routes and grants call stores and services;
//  - nothing imports upward: domain modules never import the HTTP edge (pages, admin, oauth, http, cli);
//  - no import cycles.
/** Modules that may speak SQL: stores and the services that own their tables. */
const DATABASE_MODULES = [
  '^src/[a-z-]+/[a-z-]+-store\\.ts$',
  '^src/db/',
  '^src/audit/',
  '^src/revocation/',
  '^src/keys/',
  '^src/oauth/adapter\\.ts$',
  '^src/tokens/token-recorder\\.ts$',
  '^src/tokens/subject-token\\.ts$',
  '^src/humans/login-throttle\\.ts$',
  '^src/admin/(admin-keys|audit-events|issued-tokens|bootstrap|index|services)\\.ts$',
  '^src/cli/context\\.ts$',
  '^src/server\\.ts$',
];

module.exports = {
  forbidden: [
    {
      name: 'policy-is-pure',
      comment: 'src/policy decides from plain facts: it imports nothing but its own files and plain types.',
      severity: 'error',
      from: { path: '^src/policy/' },
      to: { pathNot: ['^src/policy/', '^src/tokens/principals\\.ts$'] },
    },
    {
      name: 'only-stores-touch-the-database',
      comment: 'Pages, admin routes, grants and domain services reach PostgreSQL through stores.',
      severity: 'error',
      from: { path: '^src/', pathNot: DATABASE_MODULES },
      to: { path: ['^generated/prisma/', '^node_modules/(pg|@prisma/client|@prisma/adapter-pg)/', '^src/db/client\\.ts$'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-prisma-types-in-the-edge',
      comment: 'Pages, grants and the OAuth edge do not even name Prisma types: they speak in domain types.',
      severity: 'error',
      from: { path: '^src/(pages|oauth/grants|oauth/provider\\.ts|oauth/request-facts\\.ts)' },
      to: { path: ['^generated/prisma/', '^src/db/client\\.ts$'] },
    },
    {
      name: 'no-upward-imports',
      comment: 'Domain modules (agents, humans, approvals, tokens, ...) never import the HTTP edge.',
      severity: 'error',
      from: { path: '^src/(policy|agents|approvals|humans|clients|resources|federation|tokens|revocation|audit|keys|secrets|db|observability)/' },
      to: { path: '^src/(pages|admin|oauth|http|cli)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
