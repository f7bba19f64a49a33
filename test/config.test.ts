// The V8 settings of the server process (src/runtime-tuning.ts): the flags `npm start` applies from the
// configuration, and the command-line ones that `npm start`, the Dockerfile and the bench all start it with.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, DEFAULT_V8_FLAGS, loadConfig } from '../src/config.js';
import { SERVER_NODE_ARGS } from '../src/runtime-tuning.js';

const ROOT = path.resolve(import.meta.dirname, '..');

it('applies the measured V8 defaults unless told otherwise; `none` applies none; anything but flags is refused', () => {
  expect(loadConfig({}).v8Flags).toEqual(DEFAULT_V8_FLAGS);
  expect(DEFAULT_V8_FLAGS).toEqual(['--liftoff-only', '--heap-growing-percent=50']);
  expect(loadConfig({ AGENTAUTH_V8_FLAGS: '' }).v8Flags).toEqual(DEFAULT_V8_FLAGS);
  expect(loadConfig({ AGENTAUTH_V8_FLAGS: 'none' }).v8Flags).toEqual([]);
  expect(loadConfig({ AGENTAUTH_V8_FLAGS: ' --heap-growing-percent=25  --liftoff-only ' }).v8Flags).toEqual(['--heap-growing-percent=25', '--liftoff-only']);
  expect(() => loadConfig({ AGENTAUTH_V8_FLAGS: 'liftoff-only' })).toThrow(ConfigError);
  expect(() => loadConfig({ AGENTAUTH_V8_FLAGS: '--allow-natives-syntax;rm' })).toThrow(/AGENTAUTH_V8_FLAGS/);
});

it('starts the server with the same node arguments everywhere: npm start, the Dockerfile and the bench', () => {
  const start = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
  expect(start).toBe(`exec node ${SERVER_NODE_ARGS.join(' ')} dist/src/main.js`);
  const cmd = /^CMD (.*)$/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
  expect(JSON.parse(cmd!)).toEqual(['node', ...SERVER_NODE_ARGS, 'dist/src/main.js']);
  // The bench starts both of its servers (small and large database) through serverArgs, which puts them first.
  const bench = readFileSync(path.join(ROOT, 'bench', 'run.ts'), 'utf8');
  expect(bench).toMatch(/const serverArgs = \(tag: string\) => \[\s*\.\.\.profileArgs\(tag\),\s*\.\.\.SERVER_NODE_ARGS,/);
  expect(bench.match(/startProcess\(serverArgs\('(small|large)'\)/g)).toHaveLength(2);
  expect(bench.match(/'dist\/src\/main\.js'/g)).toHaveLength(1);
});
