// The operator's pages in a real browser (Debian's Chromium, headless, driven
// by puppeteer-core) against `mcpmesh up` running one stdio server behind two
// adapters: the console shows both replicas healthy and the tool traffic; a
// killed replica turns unhealthy within seconds; a drain through the page,
// with the token entered there, shows as drained; the API reference page
// renders every operation. Both pages are also loaded through a path-prefix
// proxy. Screenshots go to test-artifacts/ (gitignored).
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { freeUpPorts, STDIO_FIXTURE, startUp, writeUpConfig } from '../../support/up-process.js';

const artifacts = join(process.cwd(), 'test-artifacts');
const TOKEN = 'console-t0ken';

function chromiumPath(): string {
  const candidates = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
  let found = candidates.find((p) => existsSync(p));
  if (!found) {
    // As scripts/setup.sh installs promtool: Debian's package, once.
    const r = spawnSync('bash', ['scripts/setup.sh', 'chromium'], { stdio: 'inherit' });
    assert.equal(r.status, 0, 'installing Chromium (scripts/setup.sh chromium) failed');
    found = candidates.find((p) => existsSync(p));
  }
  assert.ok(found, 'Chromium not found after scripts/setup.sh chromium');
  return found;
}

let up: ChildProcess;
const started: ChildProcess[] = [];
let browser: Browser;
let proxy: Server;
let adminUrl = '';
let proxyUrl = '';
let first = 0;
let agentUrl = '';

function processes(): { pid: number; args: string }[] {
  const out = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return out
    .trim()
    .split('\n')
    .map((l) => {
      const m = /^\s*(\d+)\s+(.*)$/.exec(l);
      return { pid: Number(m?.[1]), args: m?.[2] ?? '' };
    });
}
/** The adapter process `mcpmesh up` runs on `port` (restarts included). */
const adapterPids = (port: number) =>
  processes()
    .filter((p) => p.args.includes('mcpmesh.js adapter') && p.args.includes(`--port ${port} `))
    .map((p) => p.pid);

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  const ports = await freeUpPorts(2);
  const [base, proxyPort] = ports.extra;
  const admin = ports.admin;
  first = base!;
  agentUrl = `http://127.0.0.1:${ports.listen}/mcp/demo`;
  const config = writeUpConfig(mkdtempSync(join(tmpdir(), 'mcpmesh-console-')), ports, {
    servers: [{ name: 'demo', stdio: { command: [process.execPath, STDIO_FIXTURE], replicas: 2, port: first } }],
  });
  const mesh = await startUp(config, started, { waitFor: ['Ctrl-C stops everything'], args: ['--admin-token', TOKEN] });
  up = mesh.proc;
  adminUrl = `http://127.0.0.1:${admin}`;
  assert.match(mesh.stdout(), new RegExp(`control-plane admin API: ${adminUrl}`));
  // A reverse proxy that serves the admin port under /mesh/, as an ingress would.
  proxy = createServer((req, res) => {
    if (!req.url?.startsWith('/mesh/')) {
      res.writeHead(404).end('not under /mesh/');
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port: admin, path: req.url.slice('/mesh'.length), method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${proxyPort}/mesh`;
  browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
});

after(async () => {
  await browser?.close();
  proxy?.close();
  if (up && up.exitCode === null) {
    up.kill('SIGINT');
    const exited = await Promise.race([
      new Promise((r) => up.once('exit', r)).then(() => true),
      new Promise((r) => setTimeout(r, 20_000)).then(() => false),
    ]);
    if (!exited) up.kill('SIGKILL');
  }
});

async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  return page;
}
const status = (page: Page, replica: string) =>
  page.$eval(`tr[data-replica="demo/${replica}"]`, (tr) => tr.getAttribute('data-status')).catch(() => null);
async function waitStatus(page: Page, replica: string, want: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await page.waitForSelector(`tr[data-replica="demo/${replica}"][data-status="${want}"]`, { timeout: timeoutMs }).catch(async () => {
    assert.fail(`${replica} is ${String(await status(page, replica))}, not ${want}, after ${timeoutMs} ms`);
  });
  return Date.now() - started;
}

async function callTools(n: number): Promise<void> {
  const client = new Client({ name: 'console-test', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(agentUrl)));
  try {
    for (let i = 0; i < n; i++)
      await client.callTool({ name: i % 5 === 4 ? 'fail' : 'echo', arguments: i % 5 === 4 ? {} : { text: `hi ${i}` } });
  } finally {
    await client.close();
  }
}

test('the console: healthy replicas and traffic, a killed replica turns unhealthy, a drain through the page shows', async () => {
  const a = `127.0.0.1:${first}`;
  const b = `127.0.0.1:${first + 1}`;
  const page = await newPage();
  await page.goto(`${adminUrl}/console`, { waitUntil: 'domcontentloaded' });
  // Envoy's first health checks pass within its 2 s interval.
  await waitStatus(page, a, 'healthy', 20_000);
  await waitStatus(page, b, 'healthy', 20_000);
  const clients = await page.$$eval('#clients tr[data-node]', (rows) => rows.map((r) => r.textContent ?? ''));
  assert.equal(clients.length, 1, 'one connected Envoy');
  assert.match(clients[0]!, /mcpmesh-up/);
  assert.match(clients[0]!, /routes [A-Za-z0-9_-]{12}/, 'ACKed route version shown');
  assert.equal(await page.$$eval('button[data-action]', (b) => b.length), 0, 'read-only without a token: no buttons');

  // Traffic per tool, from the control plane's own scrape of the adapters.
  await callTools(40);
  await page.waitForSelector('tr[data-tool="demo/echo"]', { timeout: 10_000 });
  await page.waitForFunction(
    () => {
      const cells = document.querySelectorAll('tr[data-tool="demo/fail"] td');
      return cells.length === 5 && Number(cells[3]!.textContent) > 0;
    },
    { timeout: 10_000 },
  );
  const routes = await page.$eval('#routes', (e) => e.textContent ?? '');
  assert.match(routes, /echo/, 'learned tools have routes');
  assert.match(routes, /other tools/);
  await page.screenshot({ path: join(artifacts, 'console-healthy.png'), fullPage: true });

  // Kill replica a's adapter. `mcpmesh up` restarts it with backoff; each
  // restart is killed too, so that the replica stays down (a crash loop).
  let killing = true;
  let kills = 0;
  const killer = (async () => {
    while (killing) {
      for (const pid of adapterPids(first)) {
        try {
          process.kill(pid, 'SIGKILL');
          kills++;
        } catch {
          // gone already
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const tookMs = await waitStatus(page, a, 'unhealthy', 8_000);
    assert.ok(kills >= 1);
    assert.equal(await status(page, b), 'healthy', 'the other replica stays healthy');
    const envoySays = await page.$eval(`tr[data-replica="demo/${a}"]`, (tr) => tr.textContent ?? '');
    assert.match(envoySays, /failed_active_health_check|not_in_cluster/, `Envoy's view is shown (${tookMs} ms after the kill)`);
    await page.screenshot({ path: join(artifacts, 'console-replica-killed.png'), fullPage: true });
  } finally {
    killing = false;
    await killer;
  }

  // Drain replica b through the page, with the token entered there.
  await page.type('#token', TOKEN);
  await page.click('#save');
  await page.waitForSelector(`button[data-action="drain"][data-id="${b}"]`, { timeout: 5_000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('mcpmesh-admin-token')), TOKEN);
  await page.click(`button[data-action="drain"][data-id="${b}"]`);
  await waitStatus(page, b, 'drained', 5_000);
  await page.waitForSelector(`button[data-action="undrain"][data-id="${b}"]`, { timeout: 5_000 });
  const view = (await (await fetch(`${adminUrl}/api/v1/servers/demo`)).json()) as { replicas: { id: string; drained: boolean }[] };
  assert.equal(view.replicas.find((r) => r.id === b)?.drained, true, 'the API agrees');
  await page.screenshot({ path: join(artifacts, 'console-drained.png'), fullPage: true });
  // The killed replica comes back once nothing kills its restarts.
  await waitStatus(page, a, 'healthy', 40_000);
  await page.click(`button[data-action="undrain"][data-id="${b}"]`);
  await waitStatus(page, b, 'healthy', 5_000);
  await page.close();
});

test('the console and the API page work behind a path-prefix proxy', async () => {
  const page = await newPage();
  await page.goto(`${proxyUrl}/console`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector(`tr[data-replica="demo/127.0.0.1:${first}"]`, { timeout: 10_000 });
  const docs = await newPage();
  await docs.goto(`${proxyUrl}/docs`, { waitUntil: 'domcontentloaded' });
  assert.equal(docs.url(), `${proxyUrl}/docs/`);
  await docs.waitForSelector('.opblock', { timeout: 15_000 });
  await page.close();
  await docs.close();
});

test('the API reference page: every operation, the Authorize box, a call that carries the token', async () => {
  const page = await newPage();
  await page.goto(`${adminUrl}/docs/`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('.opblock', { timeout: 15_000 });
  const doc = (await (await fetch(`${adminUrl}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
  const shown = await page.$$eval('.opblock', (ops) => ops.length);
  assert.equal(shown, operations, 'every operation of the document is on the page');
  assert.ok(await page.$('.btn.authorize'), 'the Authorize box');

  // Authorize with the token, then drain and undrain a replica from the page.
  await page.click('.btn.authorize');
  await page.waitForSelector('.modal-ux input[type="text"], .modal-ux input[type="password"]');
  await page.type('.modal-ux input', TOKEN);
  await page.click('.modal-ux .auth-btn-wrapper button.authorize');
  await page.click('.modal-ux .close-modal');
  const op = '#operations-servers-drainReplica';
  await page.click(`${op} .opblock-summary`);
  // tryItOutEnabled: the parameters are editable at once.
  await page.waitForSelector(`${op} input[placeholder="name"]`);
  await page.type(`${op} input[placeholder="name"]`, 'demo');
  await page.type(`${op} input[placeholder="id"]`, `127.0.0.1:${first}`);
  await page.click(`${op} .execute`);
  await page.waitForSelector(`${op} .live-responses-table tbody .response-col_status`, { timeout: 10_000 });
  const code = await page.$eval(`${op} .live-responses-table tbody .response-col_status`, (e) => e.textContent?.trim());
  assert.equal(code, '200', 'the call carried the token');
  await page.screenshot({ path: join(artifacts, 'api-reference.png'), fullPage: false });
  const view = (await (await fetch(`${adminUrl}/api/v1/servers/demo`)).json()) as { replicas: { id: string; drained: boolean }[] };
  assert.equal(view.replicas.find((r) => r.id === `127.0.0.1:${first}`)?.drained, true);
  const undrain = await fetch(`${adminUrl}/api/v1/servers/demo/replicas/${encodeURIComponent(`127.0.0.1:${first}`)}/undrain`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(undrain.status, 200);
  await page.close();
});

test('promtool check metrics passes on the control plane and on an adapter, both running', async () => {
  for (const url of [`${adminUrl}/metrics`, `http://127.0.0.1:${first + 1}/metrics`]) {
    const text = await (await fetch(url)).text();
    assert.match(text, /^process_cpu_seconds_total /m, `${url}: standard process metrics`);
    assert.match(text, /^nodejs_heap_size_used_bytes /m, `${url}: standard Node.js metrics`);
    assert.doesNotMatch(text, /mcpmesh_process_/);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.error, undefined, 'promtool is not installed: run scripts/setup.sh prometheus');
    assert.equal(r.status, 0, `${url}: ${r.stdout}${r.stderr}`);
  }
});
