// What every browser test here shares: launching Debian's Chromium through playwright-core with
// the flags this machine needs, failing with a message, and the axe-core check.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export function fail(message) {
  throw new Error(message);
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
