// What every browser test here shares: its arguments, launching Debian's Chromium through
// playwright-core with the flags this machine needs and running the test in it, failing with a
// message, the embedded admin's context and the page checks every admin page gets, and axe-core.

import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export function fail(message) {
  throw new Error(message);
}

/** The script's arguments, one for each of `names`; without them, the usage and exit 2. */
export function scriptArgs(script, names) {
  const args = process.argv.slice(2);
  if (args.length !== names.length || args.some((a) => !a)) {
    console.error(`usage: node ${script} ${names.map((n) => `<${n}>`).join(' ')}`);
    process.exit(2);
  }
  return args;
}

/**
 * Runs `test(browser)` as the script's whole run: makes the screenshot folder `dir`, launches
 * Chromium and closes it whatever happened. Exit 0 when the test passed; otherwise what failed on
 * stderr and exit 1.
 */
export async function runInBrowser(script, dir, test) {
  try {
    await mkdir(dir, { recursive: true });
    const browser = await launchChromium();
    try {
      await test(browser);
    } finally {
      await browser.close();
    }
    process.exit(0);
  } catch (e) {
    console.error(`${script}: ${e?.stack || e}`);
    process.exit(1);
  }
}

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
    timeout: 30_000,
  });
}

/** Runs axe-core on the page; prints every violation, fails on a serious or critical one. */
export async function accessibility(page, what) {
  // Not page.addScriptTag: a page's Content-Security-Policy (the link page's default-src 'none')
  // rightly blocks that, and bypassing the CSP would hide the page's own CSP problems. Code
  // evaluated through DevTools is not subject to the CSP.
  await page.evaluate(await readFile(AXE, 'utf8'));
  const result = await page.evaluate(() => axe.run());
  for (const v of result.violations) {
    console.log(`axe ${what}: [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`);
    for (const node of v.nodes) console.log(`    ${node.target.join(' ')}: ${node.failureSummary?.replace(/\n/g, ' ')}`);
  }
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  console.log(`axe ${what}: ${result.passes.length} rules passed, ${result.violations.length} violations, ` +
    `${result.incomplete.length} need review`);
  if (bad.length) fail(`axe ${what}: ${bad.length} serious/critical violation(s): ${bad.map((v) => v.id).join(', ')}`);
}

/**
 * A desktop context like the embedded admin's outside Shopify admin: the App Bridge script from
 * Shopify's CDN answered with an empty stub (offline, and the pages must work without it), `init`
 * run in every frame, `options` added to the context's.
 */
export async function adminContext(browser, { init, ...options } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  await context.route('https://cdn.shopify.com/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/javascript', body: '/* App Bridge: not loaded in this test */' }));
  if (init) await context.addInitScript(init);
  return context;
}

/**
 * A new page of `context` with 15 s timeouts, and the list its errors go to: page errors and
 * console errors, but those `ignore(message)` accepts. `noErrors` fails on them at the end.
 */
export async function watchedPage(context, { ignore = () => false } = {}) {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !ignore(m)) errors.push(`console: ${m.text()} (${m.location()?.url})`);
  });
  return { page, errors };
}

export function noErrors(errors) {
  if (errors.length) fail(`errors in the pages:\n  ${errors.join('\n  ')}`);
}

/** Fails unless `response` (the document's) is a 200; then waits for app.js to be ready. */
export async function ready(page, response, what) {
  if (response?.status() !== 200) fail(`${what}: HTTP ${response?.status()}`);
  await page.waitForSelector('html[data-ready="1"]');
}

/** Opens `origin` + `path` with the admin's `query` and waits until the page is ready. */
export async function openAdmin(page, origin, path, query) {
  await ready(page, await page.goto(`${origin}${path}?${query}`, { waitUntil: 'load' }), `GET ${path}`);
}

/** An admin page's heading, and its item marked current in the side navigation. */
export async function headingAndNav(page, what, heading, nav) {
  const h1 = (await page.locator('main h1').innerText()).trim();
  if (h1 !== heading) fail(`${what}: heading ${JSON.stringify(h1)}, not ${JSON.stringify(heading)}`);
  const current = (await page.locator('.sidenav a[aria-current="page"]').innerText()).trim();
  if (current !== nav) fail(`${what}: current nav item ${JSON.stringify(current)}, not ${JSON.stringify(nav)}`);
}

/** Fails when the page is wider than `width` px (sideways scrolling). */
export async function fits(page, what, width) {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  if (scrollWidth > width) fail(`${what}: ${scrollWidth} px wide at ${width}`);
}
