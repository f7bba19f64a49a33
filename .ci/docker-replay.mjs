#!/usr/bin/env node
// Replays the Dockerfile without Docker (there is no Docker engine in CI): a scratch directory receives only what
// the build stage COPYs from the build context (with .dockerignore applied, as `docker build` would), then each RUN
// runs there with the stage's ENV, and the replay fails where the image build would. The runtime stage is then
// assembled the same way (COPY --from=build and context files) and checked: every source it copies exists, and the
// CLI it carries answers `--help`.
//
// Usage: node .ci/docker-replay.mjs [Dockerfile]   (keep the scratch directory with KEEP_REPLAY=1)
// Understood: FROM (stages, `AS name`), WORKDIR, ENV, COPY [--from=<stage>] <src>... <dest>, RUN (shell form),
// USER, EXPOSE, CMD, ARG without default use. Anything else fails the replay, so the Dockerfile cannot quietly
// outgrow it.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const context = path.resolve(import.meta.dirname, '..');
const dockerfile = path.resolve(context, process.argv[2] ?? 'Dockerfile');
const started = Date.now();
const say = (line) => process.stdout.write(`[docker-replay ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
const fail = (line) => {
  process.stderr.write(`docker-replay: ${line}\n`);
  process.exit(1);
};

// --- the Dockerfile, as instructions grouped by stage (line continuations joined, comments dropped)
function parseDockerfile(text) {
  const stages = [];
  const logical = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
  for (const line of logical) {
    const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line);
    const instruction = { keyword: keyword.toUpperCase(), args: rest, line };
    if (instruction.keyword === 'FROM') {
      const [, image, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? fail(`cannot read: ${line}`);
      stages.push({ image, name: name ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0) fail(`instruction before FROM: ${line}`);
    else stages.at(-1).instructions.push(instruction);
  }
  return stages;
}

// --- .dockerignore (Docker's rules: patterns relative to the context root, `*` `?` within a path segment, `**` any
// number of segments, a matching directory excludes everything below it, later `!pattern` lines re-include)
function dockerignore() {
  const file = path.join(context, '.dockerignore');
  if (!existsSync(file)) return () => false;
  const rules = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = path.posix.normalize((negate ? line.slice(1) : line).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      const source = pattern
        .split('/')
        .map((segment) => (segment === '**' ? '.*' : segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (relative) => {
    let ignored = false;
    for (const rule of rules) if (rule.regex.test(relative)) ignored = !rule.negate;
    return ignored;
  };
}
const ignored = dockerignore();

/** Copies one context path (file or directory contents) to `target`, leaving out what .dockerignore excludes. */
function copyFromContext(relative, target) {
  const normal = path.posix.normalize(relative).replace(/^\.\/?/, '').replace(/\/+$/, '');
  const source = path.join(context, normal);
  if (normal && ignored(normal)) fail(`COPY ${relative}: excluded by .dockerignore, so not in the build context`);
  if (!existsSync(source)) fail(`COPY ${relative}: not found in the build context`);
  cpSync(source, target, {
    recursive: true,
    filter: (from) => {
      const rel = path.relative(context, from).split(path.sep).join('/');
      return rel === '' || rel === normal || !ignored(rel);
    },
  });
}

function copyInstruction(args, stageDir, workdir, stages) {
  const words = args.split(/\s+/);
  let from;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift();
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
    else if (!/^--(chown|chmod)=/.test(flag)) fail(`COPY flag not understood: ${flag}`);
  }
  if (words.length < 2) fail(`COPY needs a source and a destination: COPY ${args}`);
  const dest = words.pop();
  const destDir = path.join(stageDir, dest.startsWith('/') ? dest : path.posix.join(workdir, dest));
  const intoDirectory = dest.endsWith('/') || words.length > 1;
  for (const src of words) {
    if (/[*?]/.test(src)) fail(`COPY wildcards are not replayed: ${src}`);
    const target = intoDirectory ? path.join(destDir, path.basename(src)) : destDir;
    mkdirSync(path.dirname(target), { recursive: true });
    if (from === undefined) copyFromContext(src, target);
    else {
      const stage = stages.get(from) ?? fail(`COPY --from=${from}: no such stage`);
      const source = path.join(stage.dir, src.startsWith('/') ? src : path.posix.join(stage.workdir, src));
      if (!existsSync(source)) fail(`COPY --from=${from} ${src}: the ${from} stage has no such path`);
      cpSync(source, target, { recursive: true, verbatimSymlinks: true });
    }
  }
}

function replayStage(stage, stages, scratch, options) {
  const dir = path.join(scratch, stage.name);
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env };
  let workdir = '/';
  const cwd = () => path.join(dir, workdir);
  say(`stage ${stage.name} (FROM ${stage.image}) in ${dir}`);
  for (const { keyword, args, line } of stage.instructions) {
    switch (keyword) {
      case 'WORKDIR':
        workdir = args.startsWith('/') ? args : path.posix.join(workdir, args);
        mkdirSync(cwd(), { recursive: true });
        break;
      case 'ENV':
        for (const [, key, value] of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[key] = value.replace(/^"|"$/g, '');
        break;
      case 'COPY':
        say(line);
        copyInstruction(args, dir, workdir, stages);
        break;
      case 'RUN': {
        if (!options.run) {
          say(`(not run in this stage) ${line}`);
          break;
        }
        // Absolute paths in a RUN refer to the image's root; only /app-relative work is replayed faithfully.
        say(line);
        const result = spawnSync('sh', ['-c', args], { cwd: cwd(), env, stdio: 'inherit' });
        if (result.status !== 0) fail(`${line}\n  failed with exit code ${result.status}: the image build fails here`);
        break;
      }
      case 'USER':
      case 'EXPOSE':
      case 'CMD':
      case 'ENTRYPOINT':
      case 'LABEL':
        break;
      default:
        fail(`instruction not replayed: ${line}`);
    }
  }
  return { dir, workdir, env };
}

const stages = parseDockerfile(readFileSync(dockerfile, 'utf8'));
if (stages.length < 2) fail('expected a build stage and a runtime stage');
// Native modules differ between Node majors (argon2's prebuilt binary crashes on Node 20 and loads on 24): replay
// with the Node the image uses, or the replay fails for reasons the image would not.
const imageNode = /^node:(\d+)/.exec(stages[0].image)?.[1];
if (imageNode && imageNode !== process.versions.node.split('.')[0]) {
  fail(`the image runs Node ${imageNode}; run the replay with Node ${imageNode} (this is ${process.version}), as .ci/run does`);
}
const scratch = mkdtempSync(path.join(os.tmpdir(), 'agentauth-docker-replay-'));
const built = new Map();
try {
  say(`replaying ${path.relative(context, dockerfile)} with node ${process.version} (the image uses ${stages[0].image})`);
  for (const [index, stage] of stages.entries()) {
    // The final (runtime) stage's RUN lines touch the image's root (/usr/local/bin); its files are checked instead.
    const result = replayStage(stage, built, scratch, { run: index < stages.length - 1 });
    built.set(stage.name, { ...result, dir: result.dir });
  }
  const runtime = built.get(stages.at(-1).name);
  const app = path.join(runtime.dir, runtime.workdir);
  for (const needed of ['dist/src/main.js', 'dist/src/cli/main.js', 'bin/agentauth.mjs', 'generated', 'node_modules/oidc-provider', 'prisma/migrations', 'views']) {
    if (!existsSync(path.join(app, needed))) fail(`the runtime image lacks ${needed}`);
  }
  for (const dev of ['jest', 'ts-jest', 'playwright-core', 'autocannon']) {
    if (existsSync(path.join(app, 'node_modules', dev))) fail(`the runtime image still carries the dev dependency ${dev}`);
  }
  const help = spawnSync(process.execPath, ['bin/agentauth.mjs', 'users', 'create', '--help'], { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH } });
  if (help.status !== 0 || !help.stdout.includes('usage: agentauth users create')) fail(`the image's CLI does not answer --help (status ${help.status}, signal ${help.signal}${help.error ? `, ${help.error.message}` : ''}):\n${help.stdout}${help.stderr}`);
  say('runtime image: dist, generated client, migrations, views and CLI present; no dev dependencies; `agentauth users create --help` works');
  const size = execFileSync('du', ['-sh', app], { encoding: 'utf8' }).split('\t')[0];
  say(`runtime /app would hold ${size}; files ${readdirSync(app).sort().join(' ')}`);
  say('OK: the Dockerfile builds');
} finally {
  if (process.env.KEEP_REPLAY) say(`kept ${scratch}`);
  else if (existsSync(scratch) && statSync(scratch).isDirectory()) rmSync(scratch, { recursive: true, force: true });
}
