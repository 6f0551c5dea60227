/**
 * The example app in a real browser: two users of different accounts, live updates that reach
 * only the pages allowed to see them, fields outside the manifest that never reach a page, and
 * a server restart that both pages survive without a reload; then presence (a published
 * source) and per-project progress (a produced source) on the project both users share; then
 * revocation: a removed membership and a sign-out end what they allowed on sockets still open;
 * last, one project's activity at a time: a source with params and a live window, switched,
 * paged and kept live on the same connection.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const appDir = path.join(root, 'example-next-app');
const resultsDir = path.join(root, 'test-results');
const inCI = process.env.CI === 'true';
const hasChromium = existsSync(CHROMIUM);

if (!hasChromium && !inCI) {
  console.warn(
    `skipping the example browser test: ${CHROMIUM} is missing (apt-get install chromium)`,
  );
}

/** Strings that exist only in fields no manifest lists (`internalNote`, `email`). */
const HIDDEN = ['internalNote', 'internal:', 'email', '@acme.test', '@beta.test'];
const WAIT = { timeout: 15_000, interval: 50 };

// --- build and run the example --------------------------------------------------------------

function newestChange(paths: string[]): number {
  let newest = 0;
  for (const entry of paths) {
    if (!existsSync(entry)) continue;
    const stat = statSync(entry);
    if (stat.isDirectory()) {
      const children = readdirSync(entry).filter(
        (name) => !['node_modules', '.next'].includes(name),
      );
      newest = Math.max(newest, newestChange(children.map((name) => path.join(entry, name))));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  }
  return newest;
}

function run(command: string, args: string[], cwd: string) {
  try {
    execFileSync(command, args, {
      cwd,
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
      stdio: 'pipe',
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout}\n${stderr}`, { cause: error });
  }
}

/** Builds the library and the Next app unless their outputs are newer than their sources. */
function buildIfNeeded() {
  const libOutput = path.join(root, 'dist/react/index.js');
  const libSources = [path.join(root, 'src'), path.join(root, 'tsup.config.ts')];
  if (!existsSync(libOutput) || newestChange(libSources) > statSync(libOutput).mtimeMs) {
    run('npm', ['run', 'build'], root);
  }
  const appOutput = path.join(appDir, '.next/BUILD_ID');
  const appSources = [...libSources, appDir, path.join(root, 'dist')];
  if (!existsSync(appOutput) || newestChange(appSources) > statSync(appOutput).mtimeMs) {
    run(path.join(root, 'node_modules/.bin/next'), ['build'], appDir);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

/** Starts `server.ts` as the README does and resolves once it prints its address. */
function startServer(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: appDir,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      MONGO_URL: '',
      // Every mutation answers late, so the test can see optimistic changes before the answer.
      EXAMPLE_WRITE_DELAY_MS: '800',
      // A closed tab's lease lives on this long.
      EXAMPLE_LOCK_TTL_MS: '1000',
      // And its presence (the default is 5000).
      EXAMPLE_PRESENCE_GONE_MS: '500',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk));
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk;
      if (output.includes('ready on http://')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
}

function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(child.pid!, 'SIGKILL');
  });
}

// --- one signed-in browser page ---------------------------------------------------------------

interface Visitor {
  context: BrowserContext;
  page: Page;
  /** Every text frame the page's Particle WebSocket received, across reconnects. */
  frames: string[];
  /** Every text frame it sent. */
  sent: string[];
}

const status = (page: Page) => page.locator('.badge').getAttribute('data-status');

async function signIn(browser: Browser, baseURL: string, label: string): Promise<Visitor> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const frames: string[] = [];
  const sent: string[] = [];
  page.on('websocket', (socket) => {
    if (!socket.url().endsWith('/particle')) return;
    socket.on('framereceived', ({ payload }) => frames.push(String(payload)));
    socket.on('framesent', ({ payload }) => sent.push(String(payload)));
  });
  await page.goto('/');
  await page.getByRole('button', { name: label }).click();
  await vi.waitFor(async () => expect(await status(page)).toBe('ready'), WAIT);
  // A marker that a reload would wipe out: checked at the end.
  await page.evaluate(() => Object.assign(window, { sameDocument: true }));
  return { context, page, frames, sent };
}

const titles = (page: Page, projectId?: string) =>
  page
    .locator(`${projectId ? `[data-project="${projectId}"] ` : ''}li[data-task] .title`)
    .allTextContents();

const sameDocument = (page: Page) =>
  page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true);

/** A project card's "Viewing now: ..." line (the `viewers` published source). */
const viewers = (page: Page, projectId: string) =>
  page.locator(`[data-project="${projectId}"] [data-testid="viewers"]`).textContent();

/** A project card's "x of y done" line (the `projectStats` produced source). */
const progress = (page: Page, projectId: string) =>
  page.locator(`[data-project="${projectId}"] [data-testid="project-stats"]`).textContent();

/** The entries the Activity panel shows, top (newest) first. */
const entries = (page: Page) =>
  page.locator('[data-testid="activity"] li[data-activity] .text').allTextContents();

/** The seeded notes of the shared project's log, `to` down to `from` (newest first). */
const launchNotes = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `Launch note ${to - i}`);

/** Client frames as messages. */
const sentMessages = (frames: string[]) =>
  frames.map((frame) => JSON.parse(frame) as Record<string, unknown>);

/** A hand-driven Particle socket opened in a page, kept on `window.rawSocket` between calls. */
interface RawSocket {
  frames: string[];
  /** Every message received, batches unpacked. */
  messages: Record<string, unknown>[];
  send(message: object): void;
  /** The first message that passes `test`, waiting up to 10 s for it. */
  until(test: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  close(): void;
}

/**
 * Opens a raw Particle socket with the page's session cookie, registers, and leaves it on
 * `window.rawSocket` for later `page.evaluate` calls: what the page's own UI never would ask.
 */
const openRawSocket = (page: Page): Promise<void> =>
  page.evaluate(async () => {
    const socket = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/particle`);
    const frames: string[] = [];
    const messages: Record<string, unknown>[] = [];
    socket.onmessage = ({ data }) => {
      frames.push(String(data));
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      const batch = message.messages as Record<string, unknown>[] | undefined;
      messages.push(...(message.type === 'batch' && batch ? batch : [message]));
    };
    const raw: RawSocket = {
      frames,
      messages,
      send: (message) => socket.send(JSON.stringify(message)),
      close: () => socket.close(),
      until: async (test) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const found = messages.find(test);
          if (found) return found;
          if (Date.now() > deadline) throw new Error(`no such message in ${frames.join('\n')}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      },
    };
    Object.assign(window, { rawSocket: raw });
    await new Promise((resolve) => (socket.onopen = resolve));
    raw.send({ type: 'register', protocol: 2, identity: {} });
    await raw.until((m) => m.type === 'registered');
  });

/** What a second, hand-driven Particle socket of a page heard: see `probeSources`. */
interface Probe {
  refusals: { type: string; id: string; code: string }[];
  /** The document the server stored for the spoofing publication, as a subscriber got it. */
  stamped: Record<string, unknown> | undefined;
  frames: string[];
}

/**
 * On a raw socket, asks for the presence and progress of a project the page's user does not
 * work on, and publishes a presence value that claims to be someone else.
 */
async function probeSources(page: Page, foreign: string, shared: string): Promise<Probe> {
  await openRawSocket(page);
  return page.evaluate(
    async ({ foreign, shared }) => {
      const { send, until, frames, close } = (window as unknown as { rawSocket: RawSocket })
        .rawSocket;
      const foreignParams = { projectId: foreign };
      send({ type: 'subscribe', sub: 'v1', source: 'viewers', params: foreignParams });
      send({ type: 'subscribe', sub: 's1', source: 'projectStats', params: foreignParams });
      send({ type: 'publish', pub: 'p1', source: 'viewers', params: foreignParams, data: {} });
      send({ type: 'subscribe', sub: 'v2', source: 'viewers', params: { projectId: shared } });
      const payload = await until((m) => m.type === 'payload' && m.root === 'v2');
      const before = new Set((payload.data as { _id: string }[]).map((doc) => doc._id));
      const spoof = { userId: 'ann', name: 'Mallory' };
      send({
        type: 'publish',
        pub: 'p2',
        source: 'viewers',
        params: { projectId: shared },
        data: spoof,
      });
      const delta = await until(
        (m) =>
          m.type === 'delta' &&
          m.root === 'v2' &&
          (m.ops as [string, string][]).some((op) => op[0] === 'insert' && !before.has(op[1])),
      );
      const wire = (delta.ops as [string, string, Record<string, unknown>][]).find(
        (op) => op[0] === 'insert' && !before.has(op[1]),
      );
      const insert = wire && { id: wire[1], data: wire[2] };
      const refusals = await Promise.all(
        ['v1', 's1', 'p1'].map(async (id) => {
          const m = await until(
            (m) =>
              (m.type === 'subscription_error' && m.sub === id) ||
              (m.type === 'publish_error' && m.pub === id),
          );
          return { type: String(m.type), id, code: String(m.code) };
        }),
      );
      close();
      return { refusals, stamped: insert?.data, frames };
    },
    { foreign, shared },
  );
}

async function expectEventually(read: () => Promise<unknown>, check: (value: never) => void) {
  await vi.waitFor(async () => check((await read()) as never), WAIT);
}

// --- the test -----------------------------------------------------------------------------------

describe.skipIf(!hasChromium && !inCI)('example app in a browser', () => {
  let port = 0;
  let baseURL = '';
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (!hasChromium)
      throw new Error(`${CHROMIUM} is missing: install it with apt-get install chromium`);
    buildIfNeeded();
    port = await freePort();
    baseURL = `http://127.0.0.1:${port}`;
    server = await startServer(port);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });

  afterAll(async () => {
    await browser?.close();
    await kill(server);
  });

  test('two accounts see live changes, only their own, and survive a restart', async () => {
    const ann = await signIn(browser!, baseURL, 'Ann (account A)');
    const ben = await signIn(browser!, baseURL, 'Ben (account B)');

    // The first render came from the server's snapshot: the HTML already holds the tasks.
    const html = await (await ann.context.request.get('/')).text();
    expect(html).toContain('Book the launch venue');
    for (const hidden of HIDDEN) expect(html).not.toContain(hidden);

    // Per-account and per-membership views.
    expect(await titles(ann.page, 'p-web')).toEqual([
      'Draft the new home page',
      'Pick a colour palette',
    ]);
    expect(await titles(ben.page)).toContain('Count the pallets');
    expect(await titles(ben.page)).not.toContain('Draft the new home page');
    expect(await titles(ann.page)).not.toContain('Count the pallets');

    // Ann adds a task Ben may not see, then one in the project they share. Changes arrive in
    // order, so once Ben has the second, the first would have come before it if it were his.
    await ann.page.getByLabel('New task in Website relaunch').fill('Private plan');
    await ann.page.getByLabel('New task in Website relaunch').press('Enter');
    await ann.page.getByLabel('New task in Spring launch (shared)').fill('Shared checklist');
    await ann.page.getByLabel('New task in Spring launch (shared)').press('Enter');
    await expectEventually(
      () => titles(ben.page, 'p-launch'),
      (list: string[]) => expect(list).toContain('Shared checklist'),
    );
    expect(await titles(ben.page)).not.toContain('Private plan');
    expect(await titles(ann.page, 'p-web')).toContain('Private plan');

    // Ben renames the shared task; Ann's page follows.
    const sharedId = await ben.page
      .locator('li[data-task]', { hasText: 'Shared checklist' })
      .getAttribute('data-task');
    const shared = ben.page.locator(`li[data-task="${sharedId}"]`);
    await shared.getByRole('button', { name: 'Rename' }).click();
    await shared.getByLabel('New title').fill('Shared checklist, by Ben');
    await shared.getByRole('button', { name: 'Save' }).click();
    await expectEventually(
      () => titles(ann.page, 'p-launch'),
      (list: string[]) => expect(list).toContain('Shared checklist, by Ben'),
    );

    // Writes through mutators show at once: the page has the new task before any answer came.
    const sentAt = ann.frames.length;
    await ann.page.getByLabel('New task in Website relaunch').fill('Shown at once');
    await ann.page.getByLabel('New task in Website relaunch').press('Enter');
    await vi.waitFor(
      async () => expect(await titles(ann.page, 'p-web')).toContain('Shown at once'),
      {
        timeout: 500,
        interval: 20,
      },
    );
    expect(ann.frames.slice(sentAt).join('\n')).not.toContain('"type":"mutated"');
    await expectEventually(
      () => Promise.resolve(ann.frames.slice(sentAt).join('\n')),
      (frames: string) => expect(frames).toContain('"type":"mutated"'),
    );
    expect(await titles(ann.page, 'p-web')).toContain('Shown at once');

    // A write the server refuses (a title over 200 characters) shows, then rolls back.
    const plannedId = await ann.page
      .locator('li[data-task]', { hasText: 'Pick a colour palette' })
      .getAttribute('data-task');
    const planned = ann.page.locator(`li[data-task="${plannedId}"]`);
    await planned.getByRole('button', { name: 'Rename' }).click();
    await planned.getByLabel('New title').fill('Too long '.repeat(30));
    await planned.getByRole('button', { name: 'Save' }).click();
    await expectEventually(
      () => planned.getByRole('alert').textContent(),
      (alert: string) => expect(alert).toContain('at most 200 characters'),
    );
    expect(await titles(ann.page, 'p-web')).toContain('Pick a colour palette');
    expect((await titles(ann.page, 'p-web')).join()).not.toContain('Too long');

    // Ben ticks a task off: the server's sort moves it last on Ann's page.
    await ben.page.getByLabel('Done: Book the launch venue').click();
    await expectEventually(
      () => titles(ann.page, 'p-launch'),
      (list: string[]) => expect(list.at(-1)).toBe('Book the launch venue'),
    );

    // Renaming takes the task's lease: Ben sees who is renaming and cannot start; when that tab
    // closes, the lease ends after the example's lock TTL and Ben may rename again.
    const annAgain = await signIn(browser!, baseURL, 'Ann (account A)');
    const pressId = await annAgain.page
      .locator('li[data-task]', { hasText: 'Write the press release' })
      .getAttribute('data-task');
    const press = (page: Page) => page.locator(`li[data-task="${pressId}"]`);
    await press(annAgain.page).getByRole('button', { name: 'Rename' }).click();
    await expect.poll(() => press(annAgain.page).getByLabel('New title').count()).toBe(1);
    await expectEventually(
      () => press(ben.page).locator('[data-editing]').textContent(),
      (text: string) => expect(text).toContain('Ann is renaming'),
    );
    expect(await press(ben.page).getByRole('button', { name: 'Rename' }).isDisabled()).toBe(true);
    await annAgain.context.close();
    await expectEventually(
      () => press(ben.page).locator('[data-editing]').count(),
      (count: number) => expect(count).toBe(0),
    );
    expect(await press(ben.page).getByRole('button', { name: 'Rename' }).isDisabled()).toBe(false);

    // Ann moves the shared task into her own project: it leaves Ben's page, stays on hers.
    await ann.page.getByLabel('Move Shared checklist, by Ben').selectOption('p-web');
    await expectEventually(
      () => titles(ben.page),
      (list: string[]) => expect(list).not.toContain('Shared checklist, by Ben'),
    );
    expect(await titles(ann.page, 'p-web')).toContain('Shared checklist, by Ben');

    // The admin adds Ben to Website relaunch: a new row in the join collection brings that
    // project and its tasks to Ben's page; removing the row takes them away again.
    const admin = await browser!.newContext({ baseURL });
    await admin.request.post('/api/session', { form: { userId: 'admin' } });
    const joined = await admin.request.post('/api/memberships', {
      data: { userId: 'ben', projectId: 'p-web' },
    });
    expect(joined.status()).toBe(201);
    await expectEventually(
      () => titles(ben.page, 'p-web'),
      (list: string[]) => expect(list).toContain('Private plan'),
    );
    const { _id } = (await joined.json()) as { _id: string };
    await admin.request.delete(`/api/memberships/${encodeURIComponent(_id)}`);
    await expectEventually(
      () => titles(ben.page),
      (list: string[]) => expect(list).not.toContain('Private plan'),
    );
    await admin.close();

    // Writes are checked as well: Ann may not touch a task of Ben's account.
    const refused = await ann.context.request.patch('/api/tasks/t-5', {
      data: { title: 'hijacked' },
    });
    expect(refused.status()).toBe(403);

    // Fields outside the manifests never reach a page: not in its DOM, not on its socket.
    for (const visitor of [ann, ben]) {
      const page = await visitor.page.content();
      const frames = visitor.frames.join('\n');
      expect(frames).toContain('"type":"payload"');
      expect(frames).toContain('Spring launch');
      for (const hidden of HIDDEN) {
        expect(page).not.toContain(hidden);
        expect(frames).not.toContain(hidden);
      }
    }

    mkdirSync(resultsDir, { recursive: true });
    await ann.page.screenshot({ path: path.join(resultsDir, 'example.png'), fullPage: true });

    // Kill the server: both pages keep their data and say so, then reconnect to a new server
    // and converge on its state (the embedded store starts from the seed again).
    await kill(server);
    for (const { page } of [ann, ben]) {
      await vi.waitFor(async () => expect(await status(page)).toBe('reconnecting'), WAIT);
      expect(await titles(page)).toContain('Book the launch venue');
    }
    server = await startServer(port);
    for (const { page } of [ann, ben]) {
      await vi.waitFor(async () => expect(await status(page)).toBe('ready'), {
        ...WAIT,
        timeout: 30_000,
      });
    }
    await expectEventually(
      () => titles(ann.page),
      (list: string[]) => {
        expect(list).not.toContain('Private plan');
        expect(list).not.toContain('Shared checklist, by Ben');
      },
    );
    expect(await titles(ann.page, 'p-launch')).toEqual([
      'Book the launch venue',
      'Write the press release',
    ]);
    expect(await titles(ben.page, 'p-launch')).toEqual([
      'Book the launch venue',
      'Write the press release',
    ]);

    // And they are live again.
    const created = await ben.context.request.post('/api/tasks', {
      data: { title: 'After the restart', projectId: 'p-launch' },
    });
    expect(created.status()).toBe(201);
    for (const { page } of [ann, ben]) {
      await expectEventually(
        () => titles(page, 'p-launch'),
        (list: string[]) => expect(list).toContain('After the restart'),
      );
      expect(await sameDocument(page)).toBe(true);
    }

    await ann.context.close();
    await ben.context.close();
  });

  test('both users see who views the shared project, and its progress, live', async () => {
    const ann = await signIn(browser!, baseURL, 'Ann (account A)');
    const ben = await signIn(browser!, baseURL, 'Ben (account B)');

    // Each page publishes itself into every project it shows: the shared one lists both, the
    // others only their one viewer (a user with two tabs open is listed once).
    for (const { page } of [ann, ben]) {
      await expectEventually(
        () => viewers(page, 'p-launch'),
        (text: string) => expect(text).toBe('Viewing now: Ann, Ben'),
      );
    }
    await expectEventually(
      () => viewers(ann.page, 'p-web'),
      (text: string) => expect(text).toBe('Viewing now: Ann'),
    );
    await expectEventually(
      () => viewers(ben.page, 'p-ops'),
      (text: string) => expect(text).toBe('Viewing now: Ben'),
    );

    // The progress object is produced from the tasks both pages show.
    const card = ann.page.locator('[data-project="p-launch"]');
    const total = await card.locator('li[data-task]').count();
    const done = await card.locator('li[data-task].done').count();
    expect(done).toBeLessThan(total);
    for (const { page } of [ann, ben]) {
      await expectEventually(
        () => progress(page, 'p-launch'),
        (text: string) => expect(text).toBe(`${done} of ${total} done`),
      );
    }
    // Ben ticks one off: it is produced again, and both pages follow.
    await ben.page
      .locator('[data-project="p-launch"] li[data-task]:not(.done) input[type="checkbox"]')
      .first()
      .click();
    for (const { page } of [ann, ben]) {
      await expectEventually(
        () => progress(page, 'p-launch'),
        (text: string) => expect(text).toBe(`${done + 1} of ${total} done`),
      );
    }

    // The server decides, not the page: Ben may neither watch nor join a project he does not
    // work on, and what he publishes carries his own name whatever he sends.
    const probe = await probeSources(ben.page, 'p-web', 'p-launch');
    expect(probe.refusals).toEqual([
      { type: 'subscription_error', id: 'v1', code: 'forbidden' },
      { type: 'subscription_error', id: 's1', code: 'forbidden' },
      { type: 'publish_error', id: 'p1', code: 'forbidden' },
    ]);
    expect(probe.stamped).toMatchObject({ userId: 'ben', name: 'Ben' });
    for (const frames of [probe.frames, ann.frames, ben.frames]) {
      expect(frames.join('\n')).not.toContain('Mallory');
    }

    // Ben's tab closes: his name leaves Ann's page once his socket has been gone for the
    // example's `EXAMPLE_PRESENCE_GONE_MS`, well before the 5 s default.
    const closedAt = Date.now();
    await ben.context.close();
    await expectEventually(
      () => viewers(ann.page, 'p-launch'),
      (text: string) => expect(text).toBe('Viewing now: Ann'),
    );
    expect(Date.now() - closedAt).toBeLessThan(4000);

    await ann.context.close();
  });

  test('a removed membership and a sign-out end what they allowed on open sockets', async () => {
    const ben = await signIn(browser!, baseURL, 'Ben (account B)');
    const admin = await browser!.newContext({ baseURL });
    await admin.request.post('/api/session', { form: { userId: 'admin' } });

    // The admin adds Ben to Website relaunch. Once his page shows itself there, a raw socket of
    // his watches that project's presence and progress, joins its viewers, and watches the
    // shared project's presence too.
    const joined = await admin.request.post('/api/memberships', {
      data: { userId: 'ben', projectId: 'p-web' },
    });
    expect(joined.status()).toBe(201);
    await expectEventually(
      () => viewers(ben.page, 'p-web'),
      (text: string) => expect(text).toBe('Viewing now: Ben'),
    );
    await openRawSocket(ben.page);
    await ben.page.evaluate(async () => {
      const { send, until } = (window as unknown as { rawSocket: RawSocket }).rawSocket;
      const web = { projectId: 'p-web' };
      send({ type: 'subscribe', sub: 'v', source: 'viewers', params: web });
      send({ type: 'subscribe', sub: 's', source: 'projectStats', params: web });
      send({
        type: 'subscribe',
        sub: 'kept',
        source: 'viewers',
        params: { projectId: 'p-launch' },
      });
      const [payload] = await Promise.all(
        ['v', 's', 'kept'].map((root) => until((m) => m.type === 'payload' && m.root === root)),
      );
      const before = new Set((payload!.data as { _id: string }[]).map((doc) => doc._id));
      send({ type: 'publish', pub: 'p', source: 'viewers', params: web, data: {} });
      await until(
        (m) =>
          m.type === 'delta' &&
          m.root === 'v' &&
          (m.ops as [string, string][]).some((op) => op[0] === 'insert' && !before.has(op[1])),
      );
    });

    // The removal is checked again on that open socket (`stream.reauthorize`): what Ben may
    // no longer see ends, the shared project's presence stays.
    const removed = await admin.request.delete(
      `/api/memberships/${encodeURIComponent(((await joined.json()) as { _id: string })._id)}`,
    );
    expect(removed.status()).toBe(204);
    const ended = await ben.page.evaluate(async () => {
      const { until, messages } = (window as unknown as { rawSocket: RawSocket }).rawSocket;
      const refusals = await Promise.all(
        [
          ['subscription_error', 'v'],
          ['subscription_error', 's'],
          ['publish_error', 'p'],
        ].map(async ([type, id]) => {
          const m = await until((m) => m.type === type && (m.sub ?? m.pub) === id);
          return { type, id, code: String(m.code) };
        }),
      );
      const kept = !messages.some((m) => m.type === 'subscription_error' && m.sub === 'kept');
      return { refusals, kept };
    });
    expect(ended).toEqual({
      refusals: [
        { type: 'subscription_error', id: 'v', code: 'forbidden' },
        { type: 'subscription_error', id: 's', code: 'forbidden' },
        { type: 'publish_error', id: 'p', code: 'forbidden' },
      ],
      kept: true,
    });
    await admin.close();

    // A second tab of the same sign-in (the same cookie: the same session id), and a separate
    // sign-in of Ben's in another browser.
    const otherTab = await browser!.newContext({ baseURL });
    await otherTab.addCookies(await ben.context.cookies());
    const other = await otherTab.newPage();
    await other.goto('/');
    await vi.waitFor(async () => expect(await status(other)).toBe('ready'), WAIT);
    expect(await titles(other)).toContain('Count the pallets');
    const elsewhere = await signIn(browser!, baseURL, 'Ben (account B)');

    // Ben signs out in the first tab: it is back at the sign-in page without a cookie; the
    // other tab, whose socket is still open, is refused at once and stops showing data.
    const signedOutAt = Date.now();
    await ben.page.getByRole('button', { name: 'Sign out' }).click();
    await expectEventually(
      () => ben.page.getByText('Sign in as one of the demo users').count(),
      (count: number) => expect(count).toBe(1),
    );
    expect(await ben.context.cookies()).toEqual([]);
    await expectEventually(
      () => status(other),
      (value: string) => expect(value).toBe('error'),
    );
    expect(Date.now() - signedOutAt).toBeLessThan(3000);
    expect(await other.getByTestId('ended').textContent()).toContain('Signed out');
    expect(await other.locator('.badge').textContent()).toBe('refused');
    expect(await titles(other)).toEqual([]);

    // That cookie opens nothing any more: no REST write, no page. The other sign-in is live.
    const refused = await otherTab.request.post('/api/tasks', {
      data: { title: 'After signing out', projectId: 'p-launch' },
    });
    expect(refused.status()).toBe(401);
    expect(await (await otherTab.request.get('/')).text()).toContain(
      'Sign in as one of the demo users',
    );
    expect(await status(elsewhere.page)).toBe('ready');
    const created = await elsewhere.context.request.post('/api/tasks', {
      data: { title: 'Still signed in', projectId: 'p-launch' },
    });
    expect(created.status()).toBe(201);
    await expectEventually(
      () => titles(elsewhere.page, 'p-launch'),
      (list: string[]) => expect(list).toContain('Still signed in'),
    );

    await Promise.all([ben, elsewhere].map(({ context }) => context.close()));
    await otherTab.close();
  });

  test("one project's activity at a time: switched by params, paged in, and live", async () => {
    const ann = await signIn(browser!, baseURL, 'Ann (account A)');
    const ben = await signIn(browser!, baseURL, 'Ben (account B)');
    const panel = ann.page.getByTestId('activity');
    const loadOlder = panel.getByRole('button', { name: 'Load older' });

    // Both open on the project they share: the newest 20 of its 30 entries, newest first.
    for (const { page } of [ann, ben]) {
      await expectEventually(
        () => entries(page),
        (list: string[]) => expect(list).toEqual(launchNotes(11, 30)),
      );
    }

    // "Load older" widens the window: the 10 older entries arrive, and no more exist.
    await loadOlder.click();
    await expectEventually(
      () => entries(ann.page),
      (list: string[]) => expect(list).toEqual(launchNotes(1, 30)),
    );
    await expectEventually(
      () => loadOlder.count(),
      (count: number) => expect(count).toBe(0),
    );

    // A paged-in entry is as live as the first 20: a correction to the oldest reaches it.
    const edited = await ann.context.request.patch('/api/activity/a-launch-01', {
      data: { text: 'Launch note 1, corrected' },
    });
    expect(edited.status()).toBe(200);
    await expectEventually(
      () => entries(ann.page),
      (list: string[]) => expect(list.at(-1)).toBe('Launch note 1, corrected'),
    );

    // Ben posts: the entry goes on top of both pages. Ben's window of 20 slides (note 11 leaves);
    // Ann's, widened, keeps every older entry.
    await ben.page.getByLabel('New activity entry').fill('Venue confirmed');
    await ben.page.getByLabel('New activity entry').press('Enter');
    await expectEventually(
      () => entries(ben.page),
      (list: string[]) => expect(list).toEqual(['Venue confirmed', ...launchNotes(12, 30)]),
    );
    await expectEventually(
      () => entries(ann.page),
      (list: string[]) =>
        expect(list).toEqual([
          'Venue confirmed',
          ...launchNotes(2, 30),
          'Launch note 1, corrected',
        ]),
    );

    // Ann switches to her other project. Everything outside the panel stays on the page: no
    // element of it is removed, not even for a render.
    const launchSubs = new Set(
      sentMessages(ann.sent)
        .filter((m) => m.type === 'subscribe' && m.source === 'activity')
        .map((m) => m.sub),
    );
    expect(launchSubs.size).toBe(1);
    await ann.page.evaluate(() => {
      const panel = document.querySelector('[data-testid="activity"]');
      const removed: string[] = [];
      new MutationObserver((records) => {
        for (const record of records) {
          if (panel?.contains(record.target)) continue;
          for (const node of record.removedNodes) {
            if (node instanceof Element) removed.push(node.outerHTML.slice(0, 80));
          }
        }
      }).observe(document.body, { childList: true, subtree: true });
      Object.assign(window, { removedOutsidePanel: removed });
    });
    const sentBefore = ann.sent.length;
    await panel.getByRole('button', { name: 'Website relaunch' }).click();
    await expectEventually(
      () => entries(ann.page),
      (list: string[]) =>
        expect(list).toEqual(['Home page wireframes shared', 'Kick-off for the relaunch']),
    );
    expect(await loadOlder.count()).toBe(0);
    expect(await titles(ann.page, 'p-launch')).toContain('Book the launch venue');

    // Meanwhile (the old subscription ends after the provider's unsubscribeDelayMs), Ben edits
    // the params by hand on a socket of his: the activity of Ann's project, which he does not
    // work on, yields nothing; his own project's, asked the same way, does.
    await openRawSocket(ben.page);
    const probe = await ben.page.evaluate(async () => {
      const { send, until, frames, close } = (window as unknown as { rawSocket: RawSocket })
        .rawSocket;
      send({
        type: 'subscribe',
        sub: 'foreign',
        source: 'activity',
        params: { projectId: 'p-web' },
      });
      send({ type: 'subscribe', sub: 'own', source: 'activity', params: { projectId: 'p-ops' } });
      const foreign = await until(
        (m) =>
          (m.type === 'payload' && m.root === 'foreign') ||
          (m.type === 'subscription_error' && m.sub === 'foreign'),
      );
      const own = await until((m) => m.type === 'payload' && m.root === 'own');
      close();
      return { foreign, own, frames };
    });
    if (probe.foreign.type === 'payload') expect(probe.foreign.data).toEqual([]);
    else expect(probe.foreign).toMatchObject({ type: 'subscription_error', code: 'forbidden' });
    expect((probe.own.data as { text: string }[]).map((doc) => doc.text)).toEqual([
      'Forklift inspection booked',
      'Stocktake moved to Friday',
    ]);
    for (const text of ['Kick-off for the relaunch', 'Home page wireframes shared']) {
      expect(probe.frames.join('\n')).not.toContain(text);
      expect(ben.frames.join('\n')).not.toContain(text);
    }

    // The switch took one subscribe (the new params, the default window) and one unsubscribe
    // (the old sub), on the same registration: no other subscription moved, no new register.
    await expectEventually(
      () => Promise.resolve(sentMessages(ann.sent.slice(sentBefore))),
      (messages: Record<string, unknown>[]) =>
        expect(messages.some((m) => m.type === 'unsubscribe')).toBe(true),
    );
    const switched = sentMessages(ann.sent.slice(sentBefore));
    expect(switched.filter((m) => m.type === 'subscribe')).toEqual([
      expect.objectContaining({ source: 'activity', params: { projectId: 'p-web' }, limit: 20 }),
    ]);
    expect(switched.filter((m) => m.type === 'unsubscribe')).toEqual([
      { type: 'unsubscribe', sub: [...launchSubs][0] },
    ]);
    expect(switched.filter((m) => m.type === 'register')).toEqual([]);
    expect(
      await ann.page.evaluate(
        () => (window as unknown as { removedOutsidePanel: string[] }).removedOutsidePanel,
      ),
    ).toEqual([]);

    // The new window is live too: a post to Ann's project reaches her page.
    await ann.page.getByLabel('New activity entry').fill('Copy review on Monday');
    await ann.page.getByLabel('New activity entry').press('Enter');
    await expectEventually(
      () => entries(ann.page),
      (list: string[]) => expect(list[0]).toBe('Copy review on Monday'),
    );
    expect(await sameDocument(ann.page)).toBe(true);

    await Promise.all([ann, ben].map(({ context }) => context.close()));
  });
});
