// oidc-provider warns "Unsupported runtime" when it is imported on Node 20, and jest imports it afresh for every test
// file: the same warning, with a stack trace, dozens of times in one run. The global setup shows it once for the
// run (test/support/global-setup.mjs); this setup file, run before each test file, drops the repeats. Any other
// warning passes through untouched.
const UNSUPPORTED_RUNTIME = /^(\x1b\[[0-9;]*m)?oidc-provider WARNING: Unsupported runtime/;

if (process.env.AGENTAUTH_TEST_RUNTIME_WARNING_SHOWN === '1') {
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && UNSUPPORTED_RUNTIME.test(args[0])) return;
    warn(...args);
  };
}
