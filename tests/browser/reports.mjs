// The history reports and an order's timeline in a real browser (Debian's Chromium via
// playwright-core) at desktop size, outside Shopify admin (App Bridge answered with an empty stub,
// the session token from the URL). Each of the four history pages: loads with its token, shows its
// heading and the current nav item, fits 1280 px, passes axe-core (no serious or critical
// violation), leaves a screenshot. Then on the Order history: the filter form narrows the table to
// order B (its hidden fields keep the token), the Export CSV link downloads the filtered rows, and
// B's link opens its timeline, which must tell the story in order: call placed → call ended
// no-answer → IVR retries used up → fallback started → SMS → delivered → confirmed on the link →
// tagged in Shopify.
//
//   node tests/browser/reports.mjs <origin> <auth-query> <screenshot-dir> <order A> <order B> <order C>
//
// <auth-query> is `shop=…&host=…&embedded=1&id_token=…`; the orders are Shopify order ids: A
// confirmed by key 1 on its IVR call, B confirmed on the SMS link after an unanswered call, C
// pending. Their names are `#1000+id` (the fixture's order_payload).
//
// Exit 0 when everything passed; otherwise a message on stderr and exit 1.
// Run by tests/it/reports_browser.rs, which makes the data through the real flows.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { accessibility, adminContext, fail, fits, headingAndNav, noErrors, openAdmin, ready, runInBrowser, scriptArgs, watchedPage } from './common.mjs';

const [origin, query, dir, ...ids] =
  scriptArgs('reports.mjs', ['origin', 'auth-query', 'screenshot-dir', 'order A', 'order B', 'order C']);
const [A, B, C] = ids.map((id) => ({ id, name: `#${1000 + (Number(id) % 1000)}` }));

const PAGES = [
  { slug: 'calls', heading: 'Call history', nav: 'Calls', rows: 3 },
  { slug: 'sms', heading: 'SMS history', nav: 'SMS', rows: null },
  { slug: 'missed-calls', heading: 'Missed call history', nav: 'Missed calls', rows: 0 },
  { slug: 'orders', heading: 'Order history', nav: 'Orders', rows: 3 },
];

/// The report table's data rows: each the trimmed text of its cells ([] for "No records").
async function tableRows(page) {
  return page.$$eval('section[aria-labelledby="rows-heading"] table tbody tr', (trs) =>
    trs.filter((tr) => !tr.querySelector('td.muted[colspan]'))
      .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
}

async function open(page, p) {
  await openAdmin(page, origin, `/app/history/${p.slug}`, query);
  await headingAndNav(page, p.slug, p.heading, p.nav);
  const rows = await tableRows(page);
  console.log(`${p.slug}: ${rows.length} row(s)`);
  for (const r of rows) console.log(`    ${r.join(' | ')}`);
  if (p.rows !== null && rows.length !== p.rows) fail(`${p.slug}: ${rows.length} rows, not ${p.rows}`);
  return rows;
}

async function historyPages(page) {
  for (const p of PAGES) {
    const rows = await open(page, p);
    if (p.slug === 'calls') {
      for (const o of [A, B, C]) {
        if (!rows.some((r) => r.includes(o.name))) fail(`calls: no call for ${o.name}`);
      }
      if (!rows.some((r) => r.includes(B.name) && r.includes('no-answer'))) fail(`calls: ${B.name}'s call not shown as no-answer`);
      if (!rows.some((r) => r.includes(A.name) && r.includes('completed'))) fail(`calls: ${A.name}'s call not shown as completed`);
    }
    if (p.slug === 'sms') {
      const link = rows.find((r) => r.includes(B.name) && r.some((c) => c.includes('Confirmation link')));
      if (!link) fail(`sms: no confirmation-link SMS for ${B.name}`);
      if (!link.includes('sent')) fail(`sms: ${B.name}'s link SMS not shown as sent: ${link.join(' | ')}`);
      if (rows.some((r) => r.includes(A.name) || r.includes(C.name))) fail('sms: an SMS for an order that had none');
    }
    if (p.slug === 'missed-calls') {
      const h2 = (await page.locator('#rows-heading').innerText()).trim();
      if (h2 !== 'No records') fail(`missed-calls: heading ${JSON.stringify(h2)} with no missed calls`);
    }
    if (p.slug === 'orders') {
      const counts = Object.fromEntries(await page.$$eval('ul.counts li[data-count]', (lis) =>
        lis.map((li) => [li.dataset.count, Number(li.querySelector('.count-value').textContent)])));
      if (counts.total !== 3 || counts.confirmed !== 2 || counts.pending !== 1) fail(`orders: counts ${JSON.stringify(counts)}`);
      for (const o of [A, B, C]) {
        if (!rows.some((r) => r.includes(o.name))) fail(`orders: ${o.name} missing`);
      }
    }
    await fits(page, p.slug, 1280);
    await accessibility(page, `/app/history/${p.slug}`);
    await page.screenshot({ path: path.join(dir, `${p.slug}.png`), fullPage: true });
  }
}

/// On the Order history (already open): narrow to B through the form, then download the CSV.
async function filterAndCsv(page) {
  const before = (await tableRows(page)).length;
  await page.getByLabel('Order number').fill(B.name);
  await Promise.all([page.waitForURL(/[?&]order=/), page.getByRole('button', { name: 'Search' }).click()]);
  await page.waitForSelector('html[data-ready="1"]');
  const url = new URL(page.url());
  if (url.pathname !== '/app/history/orders') fail(`filter: landed on ${url.pathname}`);
  for (const k of ['shop', 'embedded', 'id_token']) {
    if (!url.searchParams.get(k)) fail(`filter: the form dropped ${k} from the query`);
  }
  const rows = await tableRows(page);
  if (!(rows.length < before)) fail(`filter: ${rows.length} rows, not fewer than ${before}`);
  if (rows.length !== 1 || !rows[0].includes(B.name)) fail(`filter: rows ${JSON.stringify(rows)}, not ${B.name} alone`);
  const h2 = (await page.locator('#rows-heading').innerText()).trim();
  if (h2 !== 'Showing 1–1 of 1') fail(`filter: heading ${JSON.stringify(h2)}`);
  if ((await page.getByLabel('Order number').inputValue()) !== B.name) fail('filter: the field did not keep the value');
  console.log(`filter order=${B.name}: ${before} → ${rows.length} row(s)`);
  await fits(page, 'filtered orders', 1280);
  await accessibility(page, 'filtered Order history');
  await page.screenshot({ path: path.join(dir, 'orders-filtered.png'), fullPage: true });

  // The Export link, as a user clicks it: a download of the filtered rows.
  const link = page.getByRole('link', { name: 'Export CSV' });
  const href = await link.getAttribute('href');
  if (!href.includes('format=csv') || !href.includes('order=')) fail(`CSV link ${href} lacks the format or the filter`);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const failure = await download.failure();
  if (failure) fail(`CSV download failed: ${failure}`);
  const name = download.suggestedFilename();
  if (!name.endsWith('.csv')) fail(`CSV download named ${JSON.stringify(name)}`);
  const text = await readFile(await download.path(), 'utf8');
  const lines = text.split(/\r?\n/).filter((l) => l !== '');
  console.log(`CSV ${name}:\n    ${lines.join('\n    ')}`);
  if (!lines[0].startsWith('Sr.No.,Order Number,')) fail(`CSV header ${JSON.stringify(lines[0])}`);
  if (lines.length !== 2) fail(`CSV: ${lines.length - 1} data rows, not 1`);
  if (!lines[1].includes(B.name) || !lines[1].includes('Confirmed')) fail(`CSV row ${JSON.stringify(lines[1])}`);
  // Still on the report after the download.
  if (new URL(page.url()).pathname !== '/app/history/orders') fail(`after the download: on ${page.url()}`);
}

/// From the filtered Order history: B's link to its timeline, and the story there.
async function timeline(page) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === `/app/orders/${B.id}` && r.request().resourceType() === 'document'),
    page.locator('section[aria-labelledby="rows-heading"] tbody a', { hasText: B.name }).click(),
  ]);
  await ready(page, response, `GET /app/orders/${B.id}`);
  const h1 = (await page.locator('main h1').innerText()).trim();
  if (h1 !== `Order ${B.name}`) fail(`timeline: heading ${JSON.stringify(h1)}`);
  const status = (await page.locator('#order-status').innerText()).trim();
  if (status !== 'Confirmed') fail(`timeline: status ${JSON.stringify(status)}`);
  const summary = await page.locator('section[aria-labelledby="summary-heading"]').innerText();
  if (!summary.includes('sms_confirmed')) fail(`timeline: tag sms_confirmed not in the summary:\n${summary}`);
  const back = await page.getByRole('link', { name: /Order history/ }).first().getAttribute('href');
  if (!back.includes('id_token=')) fail(`timeline: the back link ${back} lacks the token`);

  const events = await page.$$eval('ol.timeline li', (lis) => lis.map((li) => ({
    at: li.querySelector('time')?.textContent.trim() ?? '',
    label: li.querySelector('.badge')?.textContent.trim() ?? '',
    text: li.textContent.replace(/\s+/g, ' ').trim(),
  })));
  console.log(`timeline ${B.name}:`);
  for (const e of events) console.log(`    ${e.text}`);
  const story = [
    ['Call placed', null],
    ['Call ended', /no-answer/],
    ['IVR retries used up', null],
    ['Fallback started', /fallback/i],
    ['SMS', null],
    ['SMS delivery status', /DELIVERED_TO_HANDSET|sent|delivered/i],
    ['Confirmed', /link/i],
    ['Tagged in Shopify', /sms_confirmed/],
  ];
  let at = 0;
  for (const [label, detail] of story) {
    const i = events.findIndex((e, k) => k >= at && e.label === label && (!detail || detail.test(e.text)));
    if (i < 0) fail(`timeline: "${label}"${detail ? ` (${detail})` : ''} missing or out of order after event ${at}`);
    at = i + 1;
  }
  if (!events.every((e) => e.at !== '')) fail('timeline: an event without a time');
  if (!(await page.locator('main').innerText()).includes('IST')) fail('timeline: times not said to be IST');
  await fits(page, 'timeline', 1280);
  await accessibility(page, `/app/orders/${B.id}`);
  await page.screenshot({ path: path.join(dir, 'timeline.png'), fullPage: true });
}

async function main(browser) {
  const { page, errors } = await watchedPage(await adminContext(browser, { acceptDownloads: true }));
  page.on('dialog', (d) => d.dismiss());

  await historyPages(page); // ends on the Order history
  await filterAndCsv(page);
  await timeline(page);

  noErrors(errors);
  console.log(`reports ok; screenshots in ${dir}`);
}

await runInBrowser('reports.mjs', dir, main);
