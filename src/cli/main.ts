// The administration CLI: `agentauth <group> <action> [options]`. Each command lives in src/cli/commands/.
import { ConfigError, loadConfig } from '../config.js';
import { commands } from './commands/index.js';
import { openCliContext, UsageError, type CliCommand } from './context.js';

function help(): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`);
  return `usage: agentauth <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nagentauth <command> --help shows a command's options.`;
}

function find(argv: string[]): { command: CliCommand; args: string[] } | undefined {
  for (const command of commands) {
    const words = command.name.split(' ');
    if (words.every((word, i) => argv[i] === word)) return { command, args: argv.slice(words.length) };
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  const found = find(argv);
  if (!found) {
    process.stderr.write(`${argv.length > 0 && argv[0] !== '--help' ? `unknown command: ${argv.join(' ')}\n\n` : ''}${help()}\n`);
    return argv.length === 0 || argv[0] === '--help' ? 0 : 2;
  }
  if (found.args.includes('--help')) {
    process.stdout.write(`usage: agentauth ${found.command.name} ${found.command.usage}\n\n${found.command.summary}\n`);
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
