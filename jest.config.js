// Jest runs the TypeScript sources as ESM (oidc-provider 9 is ESM-only); `npm test` passes --experimental-vm-modules.
// Type checking is `npm run typecheck`; ts-jest only transpiles here, which keeps the suite fast.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  // The verifier package is tested from its sources (packages/verify/src), like the server.
  moduleNameMapper: { '^@agentauth/verify$': '<rootDir>/packages/verify/src/index.ts', '^(\\.{1,2}/.*)\\.js$': '$1' },
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  setupFiles: ['<rootDir>/test/support/runtime-warning.ts'],
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  testTimeout: 30_000,
  maxWorkers: 2,
};
