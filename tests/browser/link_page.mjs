// The COD confirmation link page in a real browser (Debian's Chromium via playwright-core), the way a
// buyer sees it on a small phone: 360×640, touch. Loads the page, checks the order, its shipping
// address and its three buttons, runs axe-core (any serious or critical violation fails), opens
// "Edit address", corrects the first line and the PIN code, runs axe-core on the open form, taps
// "Confirm my order", checks the answer page (with the corrected address), runs axe-core again, and
// saves a screenshot of each page for review.
//
//   node tests/browser/link_page.mjs <url> <screenshot-dir>
//
// Exit 0 when everything passed; otherwise a message on stderr and exit 1.
// Run by tests/it/browser.rs, which sets up the order and its link.

import path from 'node:path';
import { accessibility, fail, fits, noErrors, runInBrowser, scriptArgs, watchedPage } from './common.mjs';

const [url, dir] = scriptArgs('link_page.mjs', ['url', 'screenshot-dir']);

async function main(browser) {
  const context = await browser.newContext({
    viewport: { width: 360, height: 640 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
  });
  // The page has no scripts of its own; a console error (e.g. something its CSP blocked) is a finding.
  const { page, errors } = await watchedPage(context);

  const response = await page.goto(url, { waitUntil: 'load' });
  if (response?.status() !== 200) fail(`GET ${url}: HTTP ${response?.status()}`);
  const text = await page.locator('main').innerText();
  for (const want of ['#1001', 'INR 499.00', 'Delivery address', '12 MG Road', 'Pune, Maharashtra 411001']) {
    if (!text.includes(want)) fail(`link page: ${JSON.stringify(want)} missing from ${JSON.stringify(text)}`);
  }
  const buttons = {
    confirm: 'Confirm my order',
    cancel: 'Cancel my order',
    callback: 'Call me back',
  };
  for (const [value, label] of Object.entries(buttons)) {
    const button = page.locator(`form button[name=action][value=${value}]`);
    if ((await button.count()) !== 1) fail(`link page: no ${value} button`);
    if (!(await button.isVisible())) fail(`link page: the ${value} button is not visible`);
    const got = (await button.innerText()).trim();
    if (got !== label) fail(`link page: the ${value} button says ${JSON.stringify(got)}, not ${JSON.stringify(label)}`);
    // Full-width, thumb-sized buttons on a small phone.
    const box = await button.boundingBox();
    if (box.width < 280 || box.height < 44) fail(`link page: the ${value} button is ${box.width}×${box.height} px`);
  }
  // Nothing wider than the screen (no sideways scrolling).
  await fits(page, 'link page', 360);
  await accessibility(page, 'link page');
  await page.screenshot({ path: path.join(dir, 'link-page.png'), fullPage: true });

  // The address form: closed until asked for, each field labelled, prefilled with the address.
  const line1 = page.locator('input[name=address1]');
  if (await line1.isVisible()) fail('link page: the address form is open before "Edit address" is tapped');
  await page.locator('details summary').tap();
  if (!(await line1.isVisible())) fail('link page: "Edit address" did not open the address form');
  const labels = { address1: 'Address line 1', address2: 'Address line 2 (optional)', city: 'City', zip: 'PIN code' };
  for (const [name, label] of Object.entries(labels)) {
    const input = page.getByLabel(label, { exact: true });
    if ((await input.count()) !== 1 || (await input.getAttribute('name')) !== name) fail(`address form: no field labelled ${JSON.stringify(label)}`);
    const box = await input.boundingBox();
    if (box.width < 280 || box.height < 40) fail(`address form: the ${name} field is ${box.width}×${box.height} px`);
  }
  if ((await line1.inputValue()) !== '12 MG Road') fail(`address form: line 1 holds ${JSON.stringify(await line1.inputValue())}`);
  if ((await page.locator('input[name=zip]').getAttribute('inputmode')) !== 'numeric') fail('address form: the PIN code field does not ask for the number pad');
  await line1.fill('Flat 4, Lotus Apartments');
  await page.locator('input[name=zip]').fill('411038');
  await fits(page, 'address form', 360);
  await accessibility(page, 'address form');
  await page.screenshot({ path: path.join(dir, 'link-page-address.png'), fullPage: true });

  const confirm = page.locator('button[value=confirm]');
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    confirm.tap(),
  ]);
  const after = await page.locator('main').innerText();
  if (!after.includes('Your order is confirmed')) fail(`after Confirm: ${JSON.stringify(after)}`);
  if (!after.includes('Flat 4, Lotus Apartments') || !after.includes('411038')) fail(`after Confirm, not the corrected address: ${JSON.stringify(after)}`);
  await accessibility(page, 'confirmed page');
  await page.screenshot({ path: path.join(dir, 'link-page-confirmed.png'), fullPage: true });
  noErrors(errors);
  console.log(`link page ok; screenshots in ${dir}`);
}

await runInBrowser('link_page.mjs', dir, main);
