// `agentauth kek generate`: a new key-encryption key (32 random bytes, base64url) for AGENTAUTH_KEK. Needs no
// database and no configuration: it is what an operator runs before there is any. Printed, never stored: where it
// lives (a secret manager, .env) is the operator's choice, and losing it means the stored keys cannot be decrypted.
import { generateKek } from '../../keys/kek.js';
import { parseOptions } from '../args.js';
import type { CliCommand } from '../context.js';

export const kekGenerate: CliCommand = {
  name: 'kek generate',
  summary: 'print a new key-encryption key for AGENTAUTH_KEK (store it safely: without it stored keys are unreadable)',
  usage: '[--env]   (--env prints AGENTAUTH_KEK=<key>, for appending to a .env file)',
  async runStandalone(args, print) {
    const options = parseOptions(args, { env: { type: 'boolean' } });
    const kek = generateKek();
    print(options.env ? `AGENTAUTH_KEK=${kek}` : kek);
  },
};
