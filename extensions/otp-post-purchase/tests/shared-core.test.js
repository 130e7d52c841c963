// Each extension ships its own copy of otp-core.js and of its tests (each extension is built on
// its own). When the sibling extension is checked out next to this one, the copies must match.
import {it, expect} from 'vitest';
import {existsSync, readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';

const SHARED = ['src/otp-core.js', 'tests/fake-backend.js', 'tests/otp-core.test.js'];

for (const file of SHARED) {
  const here = fileURLToPath(new URL(`../${file}`, import.meta.url));
  const sibling = fileURLToPath(new URL(`../../otp-thank-you/${file}`, import.meta.url));
  it.skipIf(!existsSync(sibling))(`${file} is the same in both extensions`, () => {
    expect(readFileSync(here, 'utf8')).toBe(readFileSync(sibling, 'utf8'));
  });
}
