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

import path from 'node:path';
import { accessibility, adminContext, fail, fits, headingAndNav, noErrors, openAdmin, runInBrowser, scriptArgs, watchedPage } from './common.mjs';

const [origin, query, dir, callbackId, silentId] =
  scriptArgs('review.mjs', ['origin', 'auth-query', 'screenshot-dir', 'callback order', 'no-response order']);
const AGENT = 'Priya S';

async function rowIds(page) {
  return page.$$eval('#queue tbody tr[data-order]', (trs) => trs.map((tr) => tr.dataset.order));
}

const load = (page) => openAdmin(page, origin, '/app/review', query);

async function main(browser) {
  const { page, errors } = await watchedPage(await adminContext(browser));
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
  const resolves = [];
  page.on('request', (r) => { if (r.url().endsWith('/resolve')) resolves.push(r.url()); });

  await load(page);
  await headingAndNav(page, 'review', 'Review queue', 'Review queue');
  const ids = await rowIds(page);
  console.log(`rows: ${ids.join(', ')}`);
  if (ids.join() !== [silentId, callbackId].join()) fail(`rows ${ids}, not ${silentId}, ${callbackId} (oldest first)`);
  const callRow = page.locator(`tr[data-order="${callbackId}"]`);
  const silentRow = page.locator(`tr[data-order="${silentId}"]`);
  if ((await callRow.locator('button[data-act="call"]').count()) !== 1) fail('no Call button for the callback');
  if ((await silentRow.locator('button[data-act="call"]').count()) !== 0) fail('a Call button for the order without a callback');
  await fits(page, 'review', 1280);
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

  noErrors(errors);
  console.log(`review ok; screenshots in ${dir}`);
}

await runInBrowser('review.mjs', dir, main);
