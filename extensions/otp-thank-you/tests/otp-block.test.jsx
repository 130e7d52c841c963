// @vitest-environment happy-dom
// Draws the Preact block into a DOM (Shopify's s-* elements stay plain unknown elements here) with
// the fake backend behind `fetch`, to check the wiring between the component and otp-core.js.
import {describe, it, expect, afterEach} from 'vitest';
import {render} from 'preact';
import {act} from 'preact/test-utils';

import {OtpBlock} from '../src/OtpBlock.jsx';
import {TEXT} from '@codverify/otp-core';
import {createFakeBackend} from '@codverify/otp-core/fake-backend';

let root;
afterEach(() => {
  if (root) render(null, root);
  root = null;
});

async function mount(backendOptions = {}, orderId = 'gid://shopify/OrderIdentity/5678901234') {
  const backend = createFakeBackend(backendOptions);
  root = document.createElement('div');
  document.body.appendChild(root);
  await act(async () => {
    render(
      <OtpBlock orderId={orderId} baseUrl="https://codverify.example.com" getToken={async () => 'token-1'} fetch={backend.fetch} />,
      root,
    );
  });
  // Let the status request settle.
  await act(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
  });
  return backend;
}

async function settle() {
  await act(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
  });
}

describe('OtpBlock', () => {
  it('draws the form, then the confirmation', async () => {
    await mount({resendAfterSeconds: 30});
    expect(root.textContent).toContain(TEXT.intro);
    const field = root.querySelector('s-text-field');
    expect(field).not.toBeNull();
    const buttons = [...root.querySelectorAll('s-button')].map((b) => b.textContent);
    expect(buttons[0]).toBe('Verify');
    expect(buttons[1]).toMatch(/^Resend code in 0:(30|29)$/);

    field.value = '482913';
    await act(async () => {
      field.dispatchEvent(new Event('input'));
    });
    await act(async () => {
      root.querySelector('s-button').dispatchEvent(new Event('click'));
    });
    await settle();
    expect(root.textContent).toContain(TEXT.verified);
    expect(root.querySelector('s-text-field')).toBeNull();
  });

  it('draws nothing when no code is needed', async () => {
    await mount({state: 'not_required'});
    expect(root.innerHTML).toBe('');
  });

  it('draws the locked message', async () => {
    await mount({state: 'locked'});
    expect(root.textContent).toContain(TEXT.locked);
  });
});
