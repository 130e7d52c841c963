// @vitest-environment happy-dom
// Runs the two target entries against a stand-in `shopify` global: the Thank you page sends the
// OrderIdentity GID, the Order status page the Order GID, both with the session token.
import {describe, it, expect, afterEach, vi} from 'vitest';
import {render} from 'preact';
import {act} from 'preact/test-utils';
import {createFakeBackend} from '@codverify/otp-core/fake-backend';

const realFetch = globalThis.fetch;
afterEach(() => {
  render(null, document.body);
  globalThis.fetch = realFetch;
  delete globalThis.shopify;
  vi.resetModules();
});

function signal(value) {
  return {value, subscribe: () => () => {}};
}

async function run(entry, shopify) {
  const backend = createFakeBackend();
  globalThis.fetch = backend.fetch;
  globalThis.shopify = shopify;
  const mod = await import(entry);
  await act(async () => {
    await mod.default();
  });
  await act(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
  });
  return backend;
}

describe('targets', () => {
  it('purchase.thank-you.block.render', async () => {
    const backend = await run('../src/ThankYou.jsx', {
      orderConfirmation: signal({order: {id: 'gid://shopify/OrderIdentity/5678901234'}, isFirstOrder: true}),
      sessionToken: {get: async () => 'token-1'},
    });
    expect(backend.calls[0]).toMatchObject({
      query: {order_id: 'gid://shopify/OrderIdentity/5678901234'},
      auth: 'Bearer token-1',
    });
    expect(document.body.querySelector('s-text-field')).not.toBeNull();
  });

  it('customer-account.order-status.block.render', async () => {
    const backend = await run('../src/OrderStatus.jsx', {
      order: signal({id: 'gid://shopify/Order/5678901234', name: '#1001'}),
      sessionToken: {get: async () => 'token-1'},
    });
    expect(backend.calls[0].query).toEqual({order_id: 'gid://shopify/Order/5678901234'});
    expect(document.body.querySelector('s-text-field')).not.toBeNull();
  });
});
