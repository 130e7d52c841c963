// The review queue in a real browser (Debian's Chromium via playwright-core) at desktop size,
// outside Shopify admin (App Bridge answered with an empty stub, the session token from the URL).
// The page loads with its heading, the current nav item and both waiting orders (the callback one
// with a Call button), fits 1280 px and passes axe-core. Confirm without a name says to enter one and
// sends nothing; with a name typed, Confirm takes the callback order's row away and the name is
// remembered across a reload (localStorage); Cancel order asks first (accepted here) and takes the
// other row away, leaving the empty queue.
//
//   node tests/browser/review.mjs <origin> <auth-query> <screenshot-dir> <callback order> <no-response order>
//
// Exit 0 when everything passed; otherwise a message on stderr and exit 1.
// Run by tests/it/review_browser.rs, which makes the data through the real flows and checks the
// database afterwards.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { accessibility, fail, launchChromium } from './common.mjs';

const [origin, query, dir, callbackId, silentId] = process.argv.slice(2);
if (!origin || !query || !dir || !callbackId || !silentId) {
  console.error('usage: node review.mjs <origin> <auth-query> <screenshot-dir> <callback order> <no-response order>');
  process.exit(2);
}
const AGENT = 'Priya S';

async function rowIds(page) {
  return page.$$eval('#queue tbody tr[data-order]', (trs) => trs.map((tr) => tr.dataset.order));
}

async function load(page) {
  const response = await page.goto(`${origin}/app/review?${query}`, { waitUntil: 'load' });
  if (response?.status() !== 200) fail(`GET /app/review: HTTP ${response?.status()}`);
  await page.waitForSelector('html[data-ready="1"]');
}

async function main() {
  await mkdir(dir, { recursive: true });
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.route('https://cdn.shopify.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript', body: '/* App Bridge: not loaded in this test */' }));
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location()?.url})`);
    });
    const dialogs = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
    const resolves = [];
    page.on('request', (r) => { if (r.url().endsWith('/resolve')) resolves.push(r.url()); });

    await load(page);
    const h1 = (await page.locator('main h1').innerText()).trim();
    if (h1 !== 'Review queue') fail(`heading ${JSON.stringify(h1)}`);
    const current = (await page.locator('.sidenav a[aria-current="page"]').innerText()).trim();
    if (current !== 'Review queue') fail(`current nav item ${JSON.stringify(current)}`);
    const ids = await rowIds(page);
    console.log(`rows: ${ids.join(', ')}`);
    if (ids.join() !== [silentId, callbackId].join()) fail(`rows ${ids}, not ${silentId}, ${callbackId} (oldest first)`);
    const callRow = page.locator(`tr[data-order="${callbackId}"]`);
    const silentRow = page.locator(`tr[data-order="${silentId}"]`);
    if ((await callRow.locator('button[data-act="call"]').count()) !== 1) fail('no Call button for the callback');
    if ((await silentRow.locator('button[data-act="call"]').count()) !== 0) fail('a Call button for the order without a callback');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 1280) fail(`${width} px wide at 1280`);
    await accessibility(page, 'review');
    await page.screenshot({ path: path.join(dir, 'review.png'), fullPage: true });

    // No name: the field says so, nothing is sent.
    await callRow.locator('button[data-act="confirm"]').click();
    const err = (await page.locator('#agent-name-error').innerText()).trim();
    if (!err.includes('Enter your name')) fail(`no name: ${JSON.stringify(err)}`);
    if (resolves.length) fail('a resolution was sent without a name');

    // Confirm with a name: the row goes, the status line says so.
    await page.fill('#agent-name', AGENT);
    await callRow.locator('button[data-act="confirm"]').click();
    await callRow.waitFor({ state: 'detached' });
    const said = (await page.locator('#queue-result').innerText()).trim();
    if (!said.includes('confirmed')) fail(`after confirming: ${JSON.stringify(said)}`);
    if ((await page.locator('#queue-total').innerText()).trim() !== '1') fail('the count did not go down');

    // The name is remembered; the resolved order is gone after a reload too.
    await load(page);
    const remembered = await page.inputValue('#agent-name');
    if (remembered !== AGENT) fail(`name after reload: ${JSON.stringify(remembered)}`);
    if ((await rowIds(page)).join() !== silentId) fail(`rows after reload: ${await rowIds(page)}`);

    // Cancel asks first, then the row goes.
    await silentRow.locator('button[data-act="cancel"]').click();
    await silentRow.waitFor({ state: 'detached' });
    if (!dialogs.some((m) => m.startsWith('Cancel order'))) fail(`no confirmation asked before cancelling: ${dialogs}`);
    await load(page);
    if ((await rowIds(page)).length) fail('rows left after both were resolved');
    if (!(await page.locator('#queue').innerText()).includes('No order is waiting')) fail('the empty queue says nothing');
    await page.screenshot({ path: path.join(dir, 'review-empty.png'), fullPage: true });
    if (resolves.length !== 2) fail(`${resolves.length} resolutions sent, not 2`);

    if (errors.length) fail(`errors in the page:\n  ${errors.join('\n  ')}`);
    console.log(`review ok; screenshots in ${dir}`);
  } finally {
    await browser.close();
  }
}

try {
  await main();
  process.exit(0);
} catch (e) {
  console.error(`review.mjs: ${e?.stack || e}`);
  process.exit(1);
}
