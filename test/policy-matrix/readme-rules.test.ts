// The README's table of policy rules is the catalogue's: every rule id of src/policy/rules.ts appears as a row of
// the "## Policy rules" section, and the section names no rule the catalogue lacks. An operator reading an audit
// event's `details.rule` must find its meaning there.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RULES } from '../../src/policy/rules.js';

const README = path.resolve(import.meta.dirname, '..', '..', 'README.md');

/** The rule ids of the rows `| \`rule_id\` | ...` inside the "## Policy rules" section (up to the next "## "). */
async function readmeRuleIds(): Promise<string[]> {
  const lines = (await readFile(README, 'utf8')).split('\n');
  const start = lines.findIndex((line) => /^## Policy rules\s*$/.test(line));
  if (start < 0) return [];
  const end = lines.findIndex((line, i) => i > start && /^## /.test(line));
  return lines
    .slice(start + 1, end < 0 ? undefined : end)
    .map((line) => /^\| `([a-z_]+)` \|/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
}

it('README.md has a "## Policy rules" section', async () => {
  expect((await readFile(README, 'utf8')).split('\n')).toContain('## Policy rules');
});

it('the README lists every rule id of the catalogue, once, and no other', async () => {
  const listed = await readmeRuleIds();
  expect([...listed].sort()).toEqual(Object.keys(RULES).sort());
});
