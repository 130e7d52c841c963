// Loads src/index.jsx with the Shopify package replaced by a stand-in, to check that the entry
// compiles, registers both extension points, and that ShouldRender asks the backend.
import {describe, it, expect, vi, beforeAll, afterAll} from 'vitest';
import {createFakeBackend} from '@codverify/otp-core/fake-backend';

const registered = {};
vi.mock('@shopify/post-purchase-ui-extensions-react', () => {
  const component = (name) => name;
  return {
    extend: (point, fn) => (registered[point] = fn),
    render: (point, fn) => (registered[point] = fn),
    useExtensionInput: () => ({}),
    Banner: component('Banner'),
    BlockStack: component('BlockStack'),
    Button: component('Button'),
    Heading: component('Heading'),
    Layout: component('Layout'),
    Spinner: component('Spinner'),
    TextBlock: component('TextBlock'),
    TextContainer: component('TextContainer'),
    TextField: component('TextField'),
    View: component('View'),
  };
});

const realFetch = globalThis.fetch;
let backend;
beforeAll(async () => {
  backend = createFakeBackend({validTokens: ['pp-jwt']});
  globalThis.fetch = backend.fetch;
  await import('../src/index.jsx');
});
afterAll(() => {
  globalThis.fetch = realFetch;
});

const input = (referenceId) => ({inputData: {token: 'pp-jwt', initialPurchase: {referenceId}}});

describe('post-purchase entry', () => {
  it('registers ShouldRender and Render', () => {
    expect(typeof registered['Checkout::PostPurchase::ShouldRender']).toBe('function');
    expect(typeof registered['Checkout::PostPurchase::Render']).toBe('function');
  });

  it('ShouldRender sends the post-purchase token and reference id', async () => {
    expect(await registered['Checkout::PostPurchase::ShouldRender'](input('5678901234'))).toEqual({render: true});
    expect(backend.calls.at(-1)).toMatchObject({
      path: '/api/otp/status',
      query: {order_id: '5678901234'},
      auth: 'Bearer pp-jwt',
    });
  });

  it('ShouldRender shows the page while the order is not known yet', async () => {
    expect(await registered['Checkout::PostPurchase::ShouldRender'](input('42'))).toEqual({render: true});
  });

  it('ShouldRender skips the page when no code is needed', async () => {
    backend.order.state = 'not_required';
    expect(await registered['Checkout::PostPurchase::ShouldRender'](input('5678901234'))).toEqual({render: false});
  });

  it('ShouldRender shows the page when the backend cannot be reached', async () => {
    backend.force('network');
    expect(await registered['Checkout::PostPurchase::ShouldRender'](input('5678901234'))).toEqual({render: true});
  });
});
