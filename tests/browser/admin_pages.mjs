// The embedded admin's settings pages in a real browser (Debian's Chromium via playwright-core) at
// desktop size, outside Shopify admin: the App Bridge script is answered with an empty stub, so the
// pages must work on their own (session token from the URL). Each page: loads with its token, shows
// its heading, passes axe-core (no serious or critical violation), leaves a screenshot. On the IVR
// page an invalid value (retries 9) is shown inline and not saved; a valid one is saved. On the
// fallback page the mode switch shows the missed-call fields. On the Verification plan page the
// buttons add, move and remove steps, a refusal is shown, a save stores the steps in the order
// shown, and a reset (the save bar's Discard) brings the saved order back. Every settings form carries
// data-save-bar (App Bridge's save bar); with a stub `shopify.toast` (the real App Bridge comes
// from Shopify's CDN) a save shows a toast; framed by a stand-in admin page the side navigation
// is hidden (the admin shows ui-nav-menu), while outside the admin it is shown. On the Data
// requests page a report downloads and the retention period saves.
//
//   node tests/browser/admin_pages.mjs <origin> <auth-query> <screenshot-dir>
//
// <auth-query> is `shop=…&host=…&embedded=1&id_token=…`; its token also authenticates the checks
// of what was saved through the settings API.
//
// Exit 0 when everything passed; otherwise a message on stderr and exit 1.
// Run by tests/it/pages_browser.rs, which installs and configures the shop.

import path from 'node:path';
import { accessibility, adminContext, fail, fits, headingAndNav, noErrors, openAdmin, runInBrowser, scriptArgs, watchedPage } from './common.mjs';

const [origin, query, dir] = scriptArgs('admin_pages.mjs', ['origin', 'auth-query', 'screenshot-dir']);
const token = new URLSearchParams(query).get('id_token') ?? fail(`no id_token in ${query}`);

const PAGES = [
  { path: '/app', heading: 'codverify', nav: 'App info', shot: 'app-info' },
  { path: '/app/contact', heading: 'Contact details', nav: 'Contact details', shot: 'contact' },
  { path: '/app/settings', heading: 'Settings', nav: 'Settings', shot: 'settings' },
  { path: '/app/settings/otp', heading: 'OTP SMS settings', nav: 'OTP SMS', shot: 'otp' },
  { path: '/app/settings/ivr', heading: 'IVR call settings', nav: 'IVR call', shot: 'ivr' },
  { path: '/app/settings/fallback', heading: 'IVR fallback settings', nav: 'IVR fallback', shot: 'fallback' },
  { path: '/app/settings/plan', heading: 'Verification plan', nav: 'Verification plan', shot: 'plan' },
  { path: '/app/settings/whatsapp', heading: 'WhatsApp settings', nav: 'WhatsApp', shot: 'whatsapp' },
  { path: '/app/settings/rules', heading: 'Targeting rules', nav: 'Targeting rules', shot: 'rules' },
  { path: '/app/settings/costs', heading: 'Prices', nav: 'Prices', shot: 'costs' },
  { path: '/app/data-requests', heading: 'Data requests', nav: 'Data requests', shot: 'data-requests' },
  { path: '/app/outcomes', heading: 'Outcomes', nav: 'Outcomes', shot: 'outcomes' },
];

async function settings() {
  const r = await fetch(`${origin}/app/api/settings`, { headers: { Authorization: `Bearer ${token}` } });
  if (r.status !== 200) fail(`GET /app/api/settings: HTTP ${r.status}`);
  return r.json();
}

async function open(page, p) {
  await openAdmin(page, origin, p.path, query);
  if (!(await page.locator('.sidenav').isVisible())) fail(`${p.path}: the side navigation is hidden outside the admin`);
  await headingAndNav(page, p.path, p.heading, p.nav);
  for (const form of await page.locator('form[data-section]').all()) {
    if ((await form.getAttribute('data-save-bar')) === null) fail(`${p.path}: a settings form without data-save-bar`);
  }
  // Links keep what authenticates the next load, host included (added by app.js).
  const href = await page.locator('.sidenav a[href^="/app/settings/ivr"]').getAttribute('href');
  for (const k of ['shop=', 'host=', 'embedded=1', 'id_token=']) {
    if (!href.includes(k)) fail(`${p.path}: nav link ${href} lacks ${k}`);
  }
}

// The Data requests page: the report downloads as JSON from its link (which keeps the token), and
// the retention period saves through the settings API.
async function dataRequestChecks(page) {
  const href = await page.locator('a[href*="/app/data-requests/"][href*="format=json"]').first().getAttribute('href');
  const r = await fetch(new URL(href, origin));
  if (r.status !== 200) fail(`data request report: HTTP ${r.status}`);
  const report = await r.json();
  if (!Array.isArray(report.orders)) fail(`data request report: ${JSON.stringify(report)}`);
  const days = page.locator('input[name="privacy.retention_days"]');
  await days.fill('90');
  await page.locator('form[data-section="privacy"] button[type="submit"]').click();
  await page.locator('form[data-section="privacy"] .save-status', { hasText: 'Saved' }).waitFor();
  if ((await settings()).privacy?.retention_days !== 90) fail('retention_days 90 was not saved');
}

async function ivrChecks(page) {
  const before = await settings();
  const retries = page.locator('input[name="ivr.retries"]');
  const error = page.locator('[data-error-for="ivr.retries"]');
  const status = page.locator('form .save-status');

  // Invalid: shown next to the field, what was typed kept, nothing saved.
  await retries.fill('9');
  await page.locator('form button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('[data-error-for="ivr.retries"]').textContent.trim() !== '');
  const message = (await error.innerText()).trim();
  if (!/between 0 and 5/.test(message)) fail(`IVR: retries error says ${JSON.stringify(message)}`);
  if ((await retries.inputValue()) !== '9') fail('IVR: the typed value was not kept');
  if ((await retries.getAttribute('aria-invalid')) !== 'true') fail('IVR: the field is not marked invalid');
  const focused = await page.evaluate(() => document.activeElement?.name);
  if (focused !== 'ivr.retries') fail(`IVR: focus went to ${focused}, not the invalid field`);
  if (!(await status.innerText()).includes('Not saved')) fail(`IVR: status says ${JSON.stringify(await status.innerText())}`);
  const afterBad = await settings();
  if (afterBad.ivr.retries !== before.ivr.retries) fail(`IVR: retries saved as ${afterBad.ivr.retries} after a 422`);
  if (JSON.stringify(afterBad.ivr) !== JSON.stringify(before.ivr)) fail('IVR: the section changed after a 422');
  await accessibility(page, 'IVR page with an error');
  await page.screenshot({ path: path.join(dir, 'ivr-error.png'), fullPage: true });

  // Valid: saved, shown as saved, the error gone.
  await retries.fill('3');
  await page.locator('input[name="ivr.confirm_tag"]').fill('ivr_ok');
  await page.locator('form button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('form .save-status').textContent.trim() === 'Saved');
  if ((await error.innerText()).trim() !== '') fail('IVR: the error stayed after a save');
  const saved = await settings();
  if (saved.ivr.retries !== 3) fail(`IVR: retries is ${saved.ivr.retries} after saving 3`);
  // The page shows the values as stored (the tag normalized by the server, if it does).
  const tag = await page.locator('input[name="ivr.confirm_tag"]').inputValue();
  if (tag !== saved.ivr.confirm_tag) fail(`IVR: the page shows tag ${tag}, stored ${saved.ivr.confirm_tag}`);
  await page.screenshot({ path: path.join(dir, 'ivr-saved.png'), fullPage: false });

  // Every callback URL of the calls and SMS with a copy button (WhatsApp's is on its own page).
  for (const [k, url] of Object.entries(saved.callback_urls)) {
    if (k === 'whatsapp') continue;
    const code = (await page.locator(`#url-${k}`).innerText()).trim();
    if (code !== url) fail(`IVR: ${k} shows ${code}, not ${url}`);
    if ((await page.locator(`button[data-copy="url-${k}"]`).count()) !== 1) fail(`IVR: no copy button for ${k}`);
  }
}

async function fallbackChecks(page) {
  const missed = page.locator('section[data-mode="sms_missed_call"]');
  if (await missed.isVisible()) fail('fallback: missed-call fields shown in link mode');
  await page.getByLabel('SMS asking for a missed call').check();
  if (!(await missed.isVisible())) fail('fallback: the missed-call fields did not appear');
  if (await page.locator('section[data-mode="sms_link"]').isVisible()) fail('fallback: link fields still shown');
  await accessibility(page, 'fallback page, missed-call mode');
  await page.screenshot({ path: path.join(dir, 'fallback-missed-call.png'), fullPage: true });
}

// The Targeting rules page: a bad phone number is named next to its list, nothing saved; then the
// amounts (blank: no limit), the lists and the action save, the lists shown as stored.
async function rulesChecks(page) {
  const form = page.locator('form[data-section="rules"]');
  const phones = page.locator('textarea[name="rules.blocklist_phones"]');
  await page.locator('input[name="rules.min_amount"]').fill('199.50');
  await phones.fill('98765 43210\n12');
  await form.locator('button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('[data-error-for="rules.blocklist_phones"]').textContent.trim() !== '');
  const message = (await page.locator('[data-error-for="rules.blocklist_phones"]').innerText()).trim();
  if (!message.includes('Entry 2')) fail(`rules: the phone error says ${JSON.stringify(message)}`);
  if ((await settings()).rules.min_amount !== null) fail('rules: saved after a 422');
  await accessibility(page, 'rules page with an error');

  await phones.fill('98765 43210\n+91 98765 43210');
  await page.locator('textarea[name="rules.blocklist_pincodes"]').fill('411 001');
  await page.locator('input[name="rules.max_amount"]').fill('');
  await page.getByLabel('Tag it and cancel it in Shopify').check();
  await form.locator('button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('form[data-section="rules"] .save-status').textContent.trim() === 'Saved');
  const rules = (await settings()).rules;
  const want = { min_amount: 199.5, max_amount: null, blocklist_phones: ['+919876543210'], blocklist_pincodes: ['411001'], blocklist_action: 'cancel' };
  for (const [k, v] of Object.entries(want)) {
    if (JSON.stringify(rules[k]) !== JSON.stringify(v)) fail(`rules: ${k} saved as ${JSON.stringify(rules[k])}, not ${JSON.stringify(v)}`);
  }
  if ((await phones.inputValue()) !== '+919876543210') fail(`rules: the page shows ${JSON.stringify(await phones.inputValue())}`);
  const min = await page.locator('input[name="rules.min_amount"]').inputValue();
  if (min !== '199.50') fail(`rules: the minimum shows as ${JSON.stringify(min)}`);
  await page.screenshot({ path: path.join(dir, 'rules-saved.png'), fullPage: true });
}

async function costsChecks(page) {
  const form = page.locator('form[data-section="costs"]');
  const sms = page.locator('input[name="costs.sms_unit_paise"]');
  await sms.fill('-5');
  await form.locator('button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('[data-error-for="costs.sms_unit_paise"]').textContent.trim() !== '');
  if ((await settings()).costs.sms_unit_paise !== 25) fail('costs: saved after a 422');
  await accessibility(page, 'prices page with an error');
  await sms.fill('30');
  await page.locator('input[name="costs.call_minute_paise"]').fill('150');
  await form.locator('button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('form[data-section="costs"] .save-status').textContent.trim() === 'Saved');
  const costs = (await settings()).costs;
  const want = { sms_unit_paise: 30, whatsapp_message_paise: 12, call_minute_paise: 150 };
  for (const [k, v] of Object.entries(want)) {
    if (costs[k] !== v) fail(`costs: ${k} saved as ${JSON.stringify(costs[k])}, not ${v}`);
  }
}

async function planChecks(page) {
  const form = page.locator('form[data-section="plan"]');
  const steps = () => page.evaluate(() => [...document.querySelectorAll('[data-plan-steps] [data-step]')].map((li) => li.dataset.step));
  const saved = () => page.evaluate(() => document.querySelector('textarea[name="plan.steps"]').value.split('\n'));
  const button = (step, which) => page.locator(`[data-step="${step}"] [data-plan-${which}]`);
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(await steps(), ['ivr', 'sms_link'])) fail(`plan: shows ${await steps()}`);
  if (!(await button('ivr', 'move="up"').isDisabled())) fail('plan: the first step can move up');

  // Add the missed-call SMS, then move it up: ivr, sms_missed_call, sms_link.
  await button('sms_missed_call', 'add').click();
  await button('sms_missed_call', 'move="up"').click();
  const want = ['ivr', 'sms_missed_call', 'sms_link'];
  if (!same(await steps(), want) || !same(await saved(), want)) fail(`plan: after add and up: ${await steps()} / ${await saved()}`);
  const focused = await page.evaluate(() => document.activeElement?.closest('[data-step]')?.dataset.step);
  if (focused !== 'sms_missed_call') fail(`plan: focus left the moved step (${focused})`);
  if (!(await button('sms_missed_call', 'add').isHidden())) fail('plan: a step in the plan offers Add');

  // WhatsApp added without its settings: refused, said so, nothing saved.
  await button('whatsapp', 'add').click();
  await form.locator('button[type=submit]').click();
  await page.waitForFunction(() => !document.querySelector('form[data-section="plan"] .form-errors').hidden);
  const banner = (await form.locator('.form-errors').innerText()).trim();
  if (!banner.includes('whatsapp.sender')) fail(`plan: the refusal says ${JSON.stringify(banner)}`);
  if (!same((await settings()).plan.steps, ['ivr', 'sms_link'])) fail('plan: saved after a 422');

  // An out-of-range hour next to its field; then a valid save.
  await button('whatsapp', 'remove').click();
  await page.getByLabel('Cancel the order in Shopify after a while').check();
  await page.locator('input[name="plan.cancel_after_hours"]').fill('0');
  await form.locator('button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('[data-error-for="plan.cancel_after_hours"]').textContent.trim() !== '');
  await accessibility(page, 'plan page with an error');
  await page.locator('input[name="plan.cancel_after_hours"]').fill('12');
  await form.locator('button[type=submit]').click();
  await page.waitForFunction(() => document.querySelector('form[data-section="plan"] .save-status').textContent.trim() === 'Saved');
  const plan = (await settings()).plan;
  if (!same(plan.steps, want) || plan.no_response_action !== 'cancel' || plan.cancel_after_hours !== 12) fail(`plan: saved ${JSON.stringify(plan)}`);
  if (!same(await steps(), want)) fail(`plan: shows ${await steps()} after saving`);
  await page.screenshot({ path: path.join(dir, 'plan-saved.png'), fullPage: true });

  // Discard: the saved order comes back.
  await button('sms_link', 'move="up"').click();
  await page.evaluate(() => document.querySelector('form[data-section="plan"]').reset());
  await page.waitForFunction((w) => [...document.querySelectorAll('[data-plan-steps] [data-step]')].map((li) => li.dataset.step).join() === w, want.join());
}

async function embeddedChecks(browser) {
  // Framed by the admin (a stand-in page at admin.shopify.com, which the frame-ancestors CSP
  // allows), without App Bridge: the side navigation is hidden, the page itself is there.
  // The app is reached as https://codverify-app.test (proxied to the test server): a public page
  // may not frame a loopback address (Private Network Access).
  const framed = await adminContext(browser);
  const publicApp = 'https://codverify-app.test';
  await framed.route(`${publicApp}/**`, async (route) => {
    const u = new URL(route.request().url());
    await route.fulfill({ response: await route.fetch({ url: `${origin}${u.pathname}${u.search}` }) });
  });
  await framed.route('https://admin.shopify.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/html',
    body: `<!doctype html><title>Shopify admin</title><iframe id="app" title="codverify" src="${publicApp}/app/settings/ivr?${query}" style="width:1200px;height:760px"></iframe>` }));
  const admin = await framed.newPage();
  admin.setDefaultTimeout(15_000);
  await admin.goto('https://admin.shopify.com/store/acme/apps/codverify', { waitUntil: 'load' });
  const frame = admin.frames().find((f) => f.url().startsWith(`${publicApp}/app/settings/ivr`));
  if (!frame) fail(`embedded: the app did not load in the admin's frame (${admin.frames().map((f) => f.url()).join(', ')})`);
  await frame.waitForSelector('html[data-ready="1"]');
  if (await frame.locator('.sidenav').isVisible()) fail('embedded: the side navigation is shown inside the admin');
  if ((await frame.locator('main h1').innerText()).trim() !== 'IVR call settings') fail('embedded: no page heading in the frame');
  if ((await frame.locator('ui-nav-menu a').count()) < 6) fail('embedded: no ui-nav-menu for the admin');
  await admin.screenshot({ path: path.join(dir, 'ivr-embedded.png'), fullPage: false });
  await framed.close();

  // App Bridge present (its toast stubbed): a save shows the toast, and the inline status too.
  const bridged = await adminContext(browser, { init: () => {
    window.__toasts = [];
    window.shopify = { toast: { show: (message, opts) => { window.__toasts.push({ message, isError: !!opts?.isError }); } } };
  } });
  const page = await bridged.newPage();
  page.setDefaultTimeout(15_000);
  await openAdmin(page, origin, '/app/settings/ivr', query);
  if (await page.locator('.sidenav').isVisible()) fail('App Bridge: the side navigation is shown with App Bridge present');
  await page.locator('input[name="ivr.retries"]').fill('2');
  await page.locator('form button[type=submit]').click();
  await page.waitForFunction(() => window.__toasts.length > 0);
  const toasts = await page.evaluate(() => window.__toasts);
  if (toasts.length !== 1 || toasts[0].message !== 'Saved' || toasts[0].isError) fail(`App Bridge: toasts ${JSON.stringify(toasts)}`);
  if ((await page.locator('form .save-status').innerText()).trim() !== 'Saved') fail('App Bridge: no inline status');
  // What was saved is the form's new baseline: the save bar's Discard (a reset) goes back to it.
  await page.locator('input[name="ivr.retries"]').fill('4');
  await page.evaluate(() => document.querySelector('form[data-section]').reset());
  if ((await page.locator('input[name="ivr.retries"]').inputValue()) !== '2') fail('App Bridge: Discard does not return to the saved value');
  await bridged.close();
}

async function keyboard(page) {
  // The first Tab reaches the skip link, which moves focus to the page.
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement?.textContent?.trim());
  if (first !== 'Skip to content') fail(`keyboard: first Tab reaches ${JSON.stringify(first)}`);
}

async function main(browser) {
  // The 422 of the deliberately invalid IVR save is Chromium's network log, not a page error.
  const invalidSave = (m) => m.location()?.url?.endsWith('/app/api/settings') && m.text().includes('422');
  const { page, errors } = await watchedPage(await adminContext(browser), { ignore: invalidSave });
  page.on('dialog', (d) => d.dismiss());

  for (const p of PAGES) {
    await open(page, p);
    if (p.path === '/app') await keyboard(page);
    await fits(page, p.path, 1280);
    await accessibility(page, p.path);
    await page.screenshot({ path: path.join(dir, `${p.shot}.png`), fullPage: true });
    if (p.path === '/app/settings/ivr') await ivrChecks(page);
    if (p.path === '/app/settings/fallback') await fallbackChecks(page);
    if (p.path === '/app/settings/plan') await planChecks(page);
    if (p.path === '/app/settings/rules') await rulesChecks(page);
    if (p.path === '/app/settings/costs') await costsChecks(page);
    if (p.path === '/app/data-requests') await dataRequestChecks(page);
  }

  // Small screen: one page, for the responsive layout.
  await page.setViewportSize({ width: 390, height: 844 });
  await open(page, PAGES[4]);
  await fits(page, 'IVR page on a phone', 390);
  await accessibility(page, 'IVR page on a phone');
  await page.screenshot({ path: path.join(dir, 'ivr-phone.png'), fullPage: true });

  await embeddedChecks(browser);

  noErrors(errors);
  console.log(`admin pages ok; screenshots in ${dir}`);
}

await runInBrowser('admin_pages.mjs', dir, main);
