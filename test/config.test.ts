// The configuration's parsing of the V8 flags `npm start` applies (src/runtime-tuning.ts).
import { ConfigError, DEFAULT_V8_FLAGS, loadConfig } from '../src/config.js';

it('applies the measured V8 defaults unless told otherwise; `none` applies none; anything but flags is refused', () => {
  expect(loadConfig({}).v8Flags).toEqual(DEFAULT_V8_FLAGS);
  expect(DEFAULT_V8_FLAGS).toEqual(['--liftoff-only', '--heap-growing-percent=50']);
  expect(loadConfig({ AGENTAUTH_V8_FLAGS: '' }).v8Flags).toEqual(DEFAULT_V8_FLAGS);
  expect(loadConfig({ AGENTAUTH_V8_FLAGS: 'none' }).v8Flags).toEqual([]);
  expect(loadConfig({ AGENTAUTH_V8_FLAGS: ' --heap-growing-percent=25  --liftoff-only ' }).v8Flags).toEqual(['--heap-growing-percent=25', '--liftoff-only']);
  expect(() => loadConfig({ AGENTAUTH_V8_FLAGS: 'liftoff-only' })).toThrow(ConfigError);
  expect(() => loadConfig({ AGENTAUTH_V8_FLAGS: '--allow-natives-syntax;rm' })).toThrow(/AGENTAUTH_V8_FLAGS/);
});
