// The human's /approvals page in Chromium: it says what happened in plain words and dates ("Granted by an
// administrator", "until 29 December (in 30 days)"), lets the human block an agent from a waiting request and right
// after withdrawing, and signs out. Screenshots land in test-artifacts/.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { describeUntil } from '../../src/pages/approvals.js';
import { launchChromium } from '../support/browser.js';
import { startTestServer, type TestServer } from '../support/server.js';

const API = 'https://files.example.test';
const ARTIFACTS = path.resolve(import.meta.dirname, '..', '..', 'test-artifacts');
const alice = { username: 'alice', password: 'correct horse battery staple', displayName: 'Alice Example' };
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

let server: TestServer;
let browser: Browser;
let aliceId: string;
let count = 0;

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  [server, browser] = await Promise.all([startTestServer(), launchChromium()]);
  await server.stores.resources.create({
    identifier: API,
    name: 'Files API',
    scopes: [
      { name: 'files:read', description: 'Read your files' },
      { name: 'files:write', description: 'Change your files' },
    ],
  });
  aliceId = (await server.stores.users.create(alice)).id;
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function newAgent(): Promise<{ id: string; secret: string; name: string }> {
  count += 1;
  const name = `Filing Assistant ${count}`;
  const { agent, clientSecret } = await server.stores.agents.create({
    name,
    description: 'Keeps your files tidy',
    ownerUserId: aliceId,
    scopes: ['files:read', 'files:write'],
    audiences: [API],
    tokenEndpointAuthMethod: 'client_secret_basic',
  });
  return { id: agent.id, secret: clientSecret!, name };
}

async function signedInPage(): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.issuer}/approvals`);
  await page.getByLabel('Username').fill(alice.username);
  await page.getByLabel('Password').fill(alice.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
  return page;
}

const basic = (agent: { id: string; secret: string }) => `Basic ${Buffer.from(`${agent.id}:${agent.secret}`).toString('base64')}`;
const backchannel = (agent: { id: string; secret: string }) =>
  fetch(`${server.issuer}/backchannel`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(agent) },
    body: new URLSearchParams({ scope: 'openid files:read', resource: API, login_hint: alice.username, binding_message: 'Tidy up your files' }).toString(),
  });

describe('describeUntil', () => {
  const now = new Date('2026-11-29T10:00:00Z');
  it('counts calendar days, so a 30-day approval given now reads "in 30 days"', () => {
    expect(describeUntil(new Date('2026-12-29T10:00:00Z'), now)).toBe('until 29 December (in 30 days)');
    expect(describeUntil(new Date('2026-12-29T09:59:00Z'), now)).toBe('until 29 December (in 30 days)');
  });
  it('says tomorrow, today with a time, and the year when it is not this one', () => {
    expect(describeUntil(new Date('2026-11-30T08:00:00Z'), now)).toBe('until 30 November (tomorrow)');
    expect(describeUntil(new Date('2026-11-29T14:30:00Z'), now)).toBe('until 14:30 UTC today');
    expect(describeUntil(new Date('2027-01-15T00:00:00Z'), now)).toBe('until 15 January 2027 (in 47 days)');
  });
});

it('says who granted an approval and until when, in plain words', async () => {
  const agent = await newAgent();
  const approval = await server.stores.approvals.create({ userId: aliceId, agentId: agent.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });
  const page = await signedInPage();
  try {
    const entry = page.getByRole('listitem', { name: agent.name });
    const text = await entry.innerText();
    expect(text).toContain('Granted by an administrator.');
    expect(text).not.toContain('you approved it by');
    const until = approval.expiresAt;
    const days = Math.round((Date.UTC(until.getUTCFullYear(), until.getUTCMonth(), until.getUTCDate()) - Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate())) / 86_400_000);
    expect(days).toBe(server.config.approvals.defaultDays);
    expect(text).toContain(`until ${until.getUTCDate()} ${MONTHS[until.getUTCMonth()]}`);
    expect(text).toContain(`(in ${server.config.approvals.defaultDays} days)`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'approvals-plain-words.png'), fullPage: true });
  } finally {
    await page.context().close();
  }
}, 60_000);

it('lists an approval that came through the organisation sign-in service (a redeemed ID-JAG), naming it, withdrawable', async () => {
  const agent = await newAgent();
  await server.stores.approvals.recordAssertion({
    userId: aliceId, agentId: agent.id, scopes: ['files:read'], resource: API, expiresAt: new Date(Date.now() + 300_000), issuer: 'https://idp.example.test', jti: `jag-${count}`,
  });
  const page = await signedInPage();
  try {
    const entry = page.getByRole('listitem', { name: agent.name });
    const text = await entry.innerText();
    expect(text).toContain("Approved through your organisation's sign-in service, for one token (https://idp.example.test).");
    await entry.getByRole('button', { name: /withdraw/i }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
    expect(await page.getByRole('listitem', { name: agent.name }).count()).toBe(0);
  } finally {
    await page.context().close();
  }
}, 60_000);

it('lets the human deny a waiting request and block the agent in one step', async () => {
  const agent = await newAgent();
  const asked = await backchannel(agent);
  expect(asked.status).toBe(200);
  const { auth_req_id: authReqId } = (await asked.json()) as { auth_req_id: string };
  const page = await signedInPage();
  try {
    const request = page.getByRole('listitem', { name: `Request from ${agent.name}` });
    await page.screenshot({ path: path.join(ARTIFACTS, 'approvals-pending-block.png'), fullPage: true });
    await request.getByRole('button', { name: `Deny and block ${agent.name} from asking again` }).click();
    await page.getByRole('heading', { level: 2, name: 'Blocked agents' }).waitFor();
    expect(await page.getByRole('listitem', { name: `Request from ${agent.name}` }).count()).toBe(0);
    expect(await page.getByText(`${agent.name} may not ask you for anything.`).isVisible()).toBe(true);
  } finally {
    await page.context().close();
  }
  // The waiting request was denied, and the agent may not ask again.
  const polled = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(agent) },
    body: new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId }).toString(),
  });
  expect(((await polled.json()) as { error: string }).error).toBe('access_denied');
  const again = await backchannel(agent);
  expect(((await again.json()) as { error_description: string }).error_description).toBe('the user has blocked this agent from asking');
}, 60_000);

it('after a withdrawal offers to block the agent too', async () => {
  const agent = await newAgent();
  await server.stores.approvals.create({ userId: aliceId, agentId: agent.id, scopes: ['files:read'], resources: [API], grantedVia: 'admin' });
  const page = await signedInPage();
  try {
    await page.getByRole('listitem', { name: agent.name }).getByRole('button', { name: 'Withdraw' }).click();
    await page.getByRole('heading', { level: 2, name: `You withdrew what ${agent.name} could do` }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'approvals-withdrawn.png'), fullPage: true });
    await page.getByRole('button', { name: `Block ${agent.name} from asking again` }).click();
    await page.getByRole('heading', { level: 2, name: 'Blocked agents' }).waitFor();
    expect(await server.stores.approvals.list({ userId: aliceId, agentId: agent.id, status: 'active', limit: 5 })).toMatchObject({ items: [] });
    expect(await page.getByRole('heading', { level: 2, name: `You withdrew what ${agent.name} could do` }).count()).toBe(0);
  } finally {
    await page.context().close();
  }
  const refused = await backchannel(agent);
  expect(((await refused.json()) as { error: string }).error).toBe('access_denied');
}, 60_000);

it('ignores a withdrawn= hint naming an agent the human never approved', async () => {
  const stranger = await newAgent();
  const page = await signedInPage();
  try {
    await page.goto(`${server.issuer}/approvals?withdrawn=${encodeURIComponent(stranger.id)}`);
    await page.getByRole('heading', { level: 1, name: 'Your approvals' }).waitFor();
    expect(await page.getByText(stranger.name).count()).toBe(0);
  } finally {
    await page.context().close();
  }
}, 60_000);

it('signs out: the page asks for a sign-in again', async () => {
  const page = await signedInPage();
  try {
    expect(await page.getByText('Signed in as Alice Example').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    await page.goto(`${server.issuer}/approvals`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    expect(await page.getByRole('heading', { level: 1, name: 'Your approvals' }).count()).toBe(0);
  } finally {
    await page.context().close();
  }
}, 60_000);
