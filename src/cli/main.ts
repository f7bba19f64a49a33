// The administration CLI: `agentauth <group> <action> [options]`. Each command lives in src/cli/commands/.
import { ConfigError, loadConfig } from '../config.js';
import { commands } from './commands/index.js';
import { openCliContext, UsageError, type CliCommand } from './context.js';

function help(): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`);
  return (
    `usage: agentauth <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    "agentauth <command> --help shows a command's options. Commands use the server's environment (DATABASE_URL,\n" +
    'AGENTAUTH_KEK); without DATABASE_URL they use the embedded database in ./.agentauth/.'
  );
}

const HELP_FLAGS = new Set(['--help', '-h']);

function find(argv: string[]): { command: CliCommand; args: string[] } | undefined {
  for (const command of commands) {
    const words = command.name.split(' ');
    if (words.every((word, i) => argv[i] === word)) return { command, args: argv.slice(words.length) };
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  // Asked for help: the list, on stdout, success. No command or an unknown one: the list on stderr, usage error.
  if (argv.length === 1 && HELP_FLAGS.has(argv[0]!)) {
    process.stdout.write(`${help()}\n`);
    return 0;
  }
  const found = find(argv);
  if (!found) {
    process.stderr.write(`${argv.length > 0 ? `agentauth: unknown command: ${argv.join(' ')}\n\n` : ''}${help()}\n`);
    return 2;
  }
  if (found.args.some((arg) => HELP_FLAGS.has(arg))) {
    process.stdout.write(`usage: agentauth ${found.command.name} ${found.command.usage}\n\n${found.command.summary}\n`);
    return 0;
  }
  const print = (line: string) => process.stdout.write(`${line}\n`);
  if ('runStandalone' in found.command) {
    await found.command.runStandalone(found.args, print);
    return 0;
  }
  const ctx = await openCliContext(loadConfig());
  try {
    await found.command.run(ctx, found.args);
    return 0;
  } finally {
    await ctx.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`agentauth: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`agentauth: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
