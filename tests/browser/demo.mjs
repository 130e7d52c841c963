// Demo mode in a real browser (Debian's Chromium via playwright-core): the newcomer's first
// two minutes. 0) Place an order on the default plan (WhatsApp → IVR → SMS link), see the WhatsApp
// bubble on the simulated phone, tap Confirm order, see the order confirmed; then switch the plan
// to IVR → SMS link. 1) Place an order, answer the simulated call with 1, see the confirm tag on the
// simulated Shopify order and the call in Call history. 2) Let the call go unanswered, skip the clock
// through the retries, open the SMS link and confirm there. Screenshots of each step for review.
//
//   node tests/browser/demo.mjs <base-url> <screenshot-dir>
//
// Exit 0 when everything passed; otherwise a message on stderr and exit 1.
// Run by tests/it/demo.rs, which starts the app with no Shopify credentials.

import path from 'node:path';
import { fail, runInBrowser, scriptArgs } from './common.mjs';

const [base, dir] = scriptArgs('demo.mjs', ['base-url', 'screenshot-dir']);

/** Reloads the console (without its self-refresh) until `test(page)` holds. */
async function until(page, what, test, seconds = 20) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    await page.goto(`${base}/demo?refresh=0`);
    if (await test(page)) return;
    if (Date.now() > end) fail(`timed out waiting for: ${what}`);
    await page.waitForTimeout(300);
  }
}

async function placeOrder(page, phone) {
  await page.goto(`${base}/demo?refresh=0`);
  await page.fill('input[name=phone] >> nth=0', phone);
  await page.fill('input[name=amount]', '499');
  await page.selectOption('select[name=payment]', 'cod');
  await Promise.all([page.waitForNavigation(), page.click('text=Place order')]);
}

async function main(browser) {
  const shot = (name) => ({ path: path.join(dir, name), fullPage: true });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('pageerror', (e) => fail(`page error: ${e.message}`));

  // 1. Answer with 1.
  await page.goto(`${base}/demo?refresh=0`);
  if (!(await page.textContent('body')).includes('demo mode')) fail('the console does not say it is a demo');
  await page.screenshot(shot('demo-1-console.png'));

  // 0. WhatsApp first: the bubble with its buttons; a tap confirms.
  await placeOrder(page, '9876543219');
  await until(page, 'the WhatsApp message arrives', async (p) => (await p.locator('.chat', { hasText: 'delivered' }).count()) > 0);
  const bubble = await page.textContent('.chat .bubble');
  if (!bubble.includes('Please confirm your Cash on Delivery order') || !bubble.includes('Handloom kurta × 1')) fail(`the WhatsApp bubble: ${bubble}`);
  await page.screenshot(shot('demo-wa-1-message.png'));
  await Promise.all([page.waitForNavigation(), page.click('.chat .quick button:has-text("Confirm order")')]);
  await until(page, 'the order confirmed on WhatsApp', async (p) => (await p.locator('td strong', { hasText: 'confirmed' }).count()) >= 1);
  if ((await page.locator('.bubble.mine', { hasText: 'Confirm order' }).count()) < 1) fail('the tap is not shown in the chat');
  await page.screenshot(shot('demo-wa-2-confirmed.png'));
  await page.check('input[name=plan][value=ivr_sms_link]');
  await Promise.all([page.waitForNavigation(), page.click('text=Change plan')]);
  if (!(await page.isChecked('input[name=plan][value=ivr_sms_link]'))) fail('the plan did not change');

  await placeOrder(page, '9876543210');
  await until(page, 'the phone rings', async (p) => (await p.locator('text=Ringing').count()) > 0);
  await page.screenshot(shot('demo-2-ringing.png'));
  await Promise.all([page.waitForNavigation(), page.click('text=Answer, press 1 (confirm)')]);
  await until(page, 'the confirm tag on the Shopify order', async (p) => (await p.locator('.tag', { hasText: 'cod_confirmed' }).count()) > 0);
  const greeting = await page.textContent('.phone');
  if (!greeting.includes('Your order number')) fail(`the phone did not read the greeting: ${greeting}`);
  await page.screenshot(shot('demo-3-confirmed.png'));
  await Promise.all([page.waitForNavigation(), page.click('text=Call history')]);
  const history = await page.textContent('body');
  if (!/3210/.test(history)) fail('the call is not in Call history');
  await page.screenshot(shot('demo-4-call-history.png'));

  // 2. No answer, retries skipped through, then the SMS link.
  await placeOrder(page, '9876543211');
  for (let call = 1; call <= 3; call++) {
    await until(page, `call ${call} rings`, async (p) => (await p.locator('text=Ringing').count()) > 0);
    await Promise.all([page.waitForNavigation(), page.click("text=Don't answer")]);
    if (call < 3) {
      await page.goto(`${base}/demo?refresh=0`);
      await Promise.all([page.waitForNavigation(), page.click('text=Skip to the next retry / step')]);
    }
  }
  await until(page, 'the SMS with a link', async (p) => (await p.locator('a[href*="/v/"]').count()) > 0);
  await page.screenshot(shot('demo-5-sms.png'));
  await Promise.all([page.waitForNavigation(), page.click('a[href*="/v/"] >> nth=0')]);
  await Promise.all([page.waitForNavigation(), page.click('text=Confirm my order')]);
  if (!(await page.textContent('body')).includes('Your order is confirmed')) fail('the link page did not confirm');
  await page.screenshot(shot('demo-6-link-confirmed.png'));
  await until(page, 'all three orders confirmed', async (p) => (await p.locator('td strong', { hasText: 'confirmed' }).count()) >= 3);
  await page.screenshot(shot('demo-7-done.png'));
  console.log('demo: all three stories passed');
}

await runInBrowser('demo.mjs', dir, main);
