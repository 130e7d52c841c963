import {describe as suite, it, expect, vi} from 'vitest';
import {
  createOtpClient,
  createOtpController,
  describe as view,
  needsTicking,
  readOtp,
  formatWait,
  formatClock,
  TEXT,
  NOT_FOUND_RETRY_DELAYS_MS,
} from '../src/otp-core.js';
import {createFakeBackend} from './fake-backend.js';

const BASE = 'https://codverify.example.com';

function setup({orderId = 'gid://shopify/OrderIdentity/5678901234', tokens, ...backendOptions} = {}) {
  const backend = createFakeBackend(backendOptions);
  const tokenQueue = tokens ? [...tokens] : null;
  const getToken = vi.fn(async () => (tokenQueue ? tokenQueue.shift() ?? 'token-1' : 'token-1'));
  const client = createOtpClient({baseUrl: `${BASE}/`, getToken, fetch: backend.fetch});
  const delays = [];
  const controller = createOtpController({
    client,
    orderId,
    now: backend.now,
    setTimeout: (fn, ms) => {
      delays.push(ms);
      backend.advance(ms / 1000);
      queueMicrotask(fn);
    },
  });
  const show = () => view(controller.getState(), backend.now());
  return {backend, client, controller, getToken, delays, show};
}

async function ready(options) {
  const t = setup(options);
  await t.controller.start();
  return t;
}

suite('readOtp', () => {
  it('accepts 4 to 8 digits and trims spaces and dashes', () => {
    expect(readOtp('1234')).toEqual({ok: true, otp: '1234'});
    expect(readOtp(' 482 913 ')).toEqual({ok: true, otp: '482913'});
    expect(readOtp('48-29-13')).toEqual({ok: true, otp: '482913'});
    expect(readOtp('12345678')).toEqual({ok: true, otp: '12345678'});
  });
  it('turns Indian-script and full-width digits into 0-9', () => {
    expect(readOtp('४८२९१३')).toEqual({ok: true, otp: '482913'}); // Devanagari
    expect(readOtp('৪৮২৯১৩')).toEqual({ok: true, otp: '482913'}); // Bengali
    expect(readOtp('４８２９')).toEqual({ok: true, otp: '4829'});
  });
  it('refuses empty, letters, too short, too long', () => {
    expect(readOtp('')).toMatchObject({ok: false, error: 'Please type the code from the SMS.'});
    expect(readOtp(undefined)).toMatchObject({ok: false});
    expect(readOtp('12a4')).toMatchObject({ok: false, error: expect.stringContaining('only numbers')});
    expect(readOtp('123')).toMatchObject({ok: false, error: expect.stringContaining('4 to 8')});
    expect(readOtp('123456789')).toMatchObject({ok: false, error: expect.stringContaining('4 to 8')});
  });
});

suite('formatting', () => {
  it('says waits in plain words and as a clock', () => {
    expect(formatWait(1)).toBe('1 second');
    expect(formatWait(25)).toBe('25 seconds');
    expect(formatWait(24.2)).toBe('25 seconds');
    expect(formatWait(95)).toBe('1:35 minutes');
    expect(formatClock(25)).toBe('0:25');
    expect(formatClock(125)).toBe('2:05');
  });
});

suite('API client', () => {
  it('sends the bearer token and the order id as given', async () => {
    const {backend} = await ready();
    expect(backend.calls[0]).toMatchObject({
      method: 'GET',
      path: '/api/otp/status',
      query: {order_id: 'gid://shopify/OrderIdentity/5678901234'},
      auth: 'Bearer token-1',
    });
  });

  it('posts JSON to verify and resend', async () => {
    const calls = [];
    const fetch = vi.fn(async (url, init) => {
      calls.push({url, init});
      return new Response(JSON.stringify({state: 'pending', result: 'incorrect'}), {status: 200});
    });
    const client = createOtpClient({baseUrl: BASE, getToken: () => 'tok', fetch});
    await client.verify(5678901234, '1234');
    await client.resend('5678901234');
    expect(calls[0].url).toBe(`${BASE}/api/otp/verify`);
    expect(calls[0].init.method).toBe('POST');
    expect(calls[0].init.headers).toMatchObject({'Content-Type': 'application/json', Authorization: 'Bearer tok'});
    expect(JSON.parse(calls[0].init.body)).toEqual({order_id: '5678901234', otp: '1234'});
    expect(calls[1].url).toBe(`${BASE}/api/otp/resend`);
    expect(JSON.parse(calls[1].init.body)).toEqual({order_id: '5678901234'});
  });

  it('on 401 fetches a fresh token once and retries', async () => {
    const t = await ready({tokens: ['stale-token', 'token-1']});
    expect(t.getToken).toHaveBeenCalledTimes(2);
    expect(t.backend.calls.map((c) => c.auth)).toEqual(['Bearer stale-token', 'Bearer token-1']);
    expect(t.show().mode).toBe('enter');
  });

  it('gives up after the second 401 and asks for a refresh', async () => {
    const t = await ready({tokens: ['bad-1', 'bad-2', 'bad-3']});
    expect(t.backend.calls).toHaveLength(2);
    expect(t.show()).toMatchObject({mode: 'failed', text: TEXT.sessionEnded, showRetry: false});
  });

  it('maps answers to kinds', async () => {
    const backend = createFakeBackend();
    const client = createOtpClient({baseUrl: BASE, getToken: () => 'token-1', fetch: backend.fetch});
    backend.force({status: 429}, {status: 400}, {status: 502}, {status: 200, raw: 'not json'}, 'network');
    expect(await client.status('5678901234')).toEqual({kind: 'rate_limited'});
    expect(await client.status('5678901234')).toEqual({kind: 'bad_request'});
    expect(await client.status('5678901234')).toMatchObject({kind: 'server_error', status: 502});
    expect(await client.status('5678901234')).toMatchObject({kind: 'server_error'});
    expect(await client.status('5678901234')).toEqual({kind: 'network'});
    expect(await client.status('999')).toEqual({kind: 'not_found'});
  });

  it('gives up on a request that hangs', async () => {
    vi.useFakeTimers();
    try {
      const fetch = (_url, init) =>
        new Promise((_resolve, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      const client = createOtpClient({baseUrl: BASE, getToken: () => 't', fetch, timeoutMs: 5000});
      const answer = client.status('1');
      await vi.advanceTimersByTimeAsync(5000);
      expect(await answer).toEqual({kind: 'network'});
    } finally {
      vi.useRealTimers();
    }
  });
});

suite('OTP block', () => {
  it('shows the code form with attempts and the resend countdown', async () => {
    const {show, backend} = await ready({resendAfterSeconds: 30});
    let v = show();
    expect(v).toMatchObject({
      mode: 'enter',
      showInput: true,
      canVerify: true,
      showResend: true,
      canResend: false,
      resendWaitSeconds: 30,
      resendLabel: 'Resend code in 0:30',
      resendHint: 'You can ask for a new code in 30 seconds.',
      attemptsLeft: 3,
    });
    expect(needsTicking(v)).toBe(true);
    backend.advance(12);
    expect(show()).toMatchObject({resendWaitSeconds: 18, resendLabel: 'Resend code in 0:18', canResend: false});
    backend.advance(18);
    v = show();
    expect(v).toMatchObject({resendWaitSeconds: 0, canResend: true, resendLabel: 'Resend code', resendHint: null});
  });

  it('verify success', async () => {
    const {controller, show, backend} = await ready();
    controller.setInput('482 913');
    const pending = controller.verify();
    expect(show().busy).toBe('verify');
    expect(show().canVerify).toBe(false);
    await pending;
    expect(backend.calls.at(-1)).toMatchObject({path: '/api/otp/verify', body: {otp: '482913'}});
    const v = show();
    expect(v).toMatchObject({mode: 'verified', title: 'Order confirmed', text: TEXT.verified, tone: 'success', showInput: false});
    expect(needsTicking(v)).toBe(false);
  });

  it('wrong OTP with attempts left', async () => {
    const {controller, show} = await ready({attempts: 3});
    controller.setInput('111111');
    await controller.verify();
    expect(show()).toMatchObject({
      mode: 'enter',
      canVerify: true,
      attemptsLeft: 2,
      notice: {tone: 'critical', text: 'That code is not correct. You can try 2 more times.'},
    });
    expect(controller.getState().input).toBe('');
    controller.setInput('222222');
    await controller.verify();
    expect(show().notice.text).toBe('That code is not correct. You can try 1 more time.');
  });

  it('locked after the last wrong OTP', async () => {
    const {controller, show, backend} = await ready({attempts: 2});
    controller.setInput('111111');
    await controller.verify();
    controller.setInput('222222');
    await controller.verify();
    const v = show();
    expect(v).toMatchObject({mode: 'locked', text: TEXT.locked, showInput: false, canVerify: false, canResend: false});
    // A locked block sends nothing more.
    const before = backend.calls.length;
    controller.setInput('482913');
    await controller.verify();
    await controller.resend();
    expect(backend.calls.length).toBe(before);
  });

  it('an order already locked on load', async () => {
    const {show} = await ready({state: 'locked'});
    expect(show().mode).toBe('locked');
  });

  it('does not send a badly typed code', async () => {
    const {controller, show, backend} = await ready();
    const before = backend.calls.length;
    controller.setInput('12');
    await controller.verify();
    expect(backend.calls.length).toBe(before);
    expect(show().inputError).toContain('4 to 8');
    controller.setInput('1234');
    expect(show().inputError).toBeNull();
  });

  it('resend too soon shows the countdown from the backend', async () => {
    const {controller, show, backend} = await ready({resendAfterSeconds: 30});
    // The local countdown says 0 (clocks differ) but the backend still wants 20 seconds.
    backend.order.sentAt = backend.clock.ms + 10_000;
    controller.getState().server.resend_in_seconds = 0;
    await controller.resend();
    expect(backend.calls.at(-1).path).toBe('/api/otp/resend');
    expect(show()).toMatchObject({
      mode: 'enter',
      canResend: false,
      resendWaitSeconds: 40,
      notice: {tone: 'info', text: 'Please wait 40 seconds before asking for a new code.'},
    });
  });

  it('the resend button does nothing while the countdown runs', async () => {
    const {controller, backend} = await ready({resendAfterSeconds: 30});
    const before = backend.calls.length;
    await controller.resend();
    expect(backend.calls.length).toBe(before);
  });

  it('resend accepted restarts the countdown', async () => {
    const {controller, show, backend} = await ready({resendAfterSeconds: 30, resends: 2});
    backend.advance(30);
    controller.setInput('99');
    await controller.resend();
    expect(show()).toMatchObject({
      mode: 'enter',
      canResend: false,
      resendWaitSeconds: 30,
      notice: {tone: 'success', text: TEXT.resent},
    });
    expect(controller.getState().input).toBe('');
    expect(backend.order.resendsLeft).toBe(1);
    // The new code works.
    controller.setInput(backend.order.otp);
    await controller.verify();
    expect(show().mode).toBe('verified');
  });

  it('no resends left hides the countdown and says so', async () => {
    const {controller, show, backend} = await ready({resends: 1, resendAfterSeconds: 10});
    backend.advance(10);
    await controller.resend();
    const v = show();
    expect(v).toMatchObject({showResend: false, canResend: false, resendHint: TEXT.noResendsLeftHint});
  });

  it('no_resends_left answer', async () => {
    const {controller, show, backend} = await ready({resends: 1, resendAfterSeconds: 10});
    backend.advance(10);
    // Another tab used the last resend meanwhile.
    backend.order.resendsLeft = 0;
    await controller.resend();
    expect(show()).toMatchObject({notice: {tone: 'warning', text: TEXT.noResendsLeft}, showResend: false});
  });

  it('expired on load, with resends left: offers a new code', async () => {
    const {show} = await ready({state: 'expired', resendAfterSeconds: 0});
    expect(show()).toMatchObject({mode: 'expired', text: TEXT.expiredCanResend, showInput: false, canResend: true});
  });

  it('expired with no resends left: final message', async () => {
    const {show} = await ready({state: 'expired', resends: 0});
    expect(show()).toMatchObject({mode: 'expired', text: TEXT.expiredFinal, showResend: false, canResend: false});
  });

  it('expires while the page is open, then a new code revives it', async () => {
    const {controller, show, backend} = await ready({expiresAfterSeconds: 120, resendAfterSeconds: 30});
    backend.advance(119);
    expect(show().mode).toBe('enter');
    backend.advance(1);
    expect(show()).toMatchObject({mode: 'expired', canResend: true});
    await controller.resend();
    expect(show()).toMatchObject({mode: 'enter', notice: {tone: 'success'}});
  });

  it('verify answered expired', async () => {
    const {controller, show, backend} = await ready({expiresAfterSeconds: 60, resends: 0});
    backend.order.expiresAfterSeconds = 0; // the backend's clock is ahead
    controller.setInput('482913');
    await controller.verify();
    expect(show()).toMatchObject({mode: 'expired', text: TEXT.expiredFinal});
  });

  it('not_required renders nothing', async () => {
    const {show} = await ready({state: 'not_required'});
    expect(show().mode).toBe('hidden');
  });

  it('already verified on load', async () => {
    const {show} = await ready({state: 'verified'});
    expect(show().mode).toBe('verified');
  });

  it('an order the backend does not know yet is asked again, then "not needed"', async () => {
    const t = setup({orderId: 'gid://shopify/Order/1'});
    await t.controller.start();
    expect(t.delays).toEqual(NOT_FOUND_RETRY_DELAYS_MS);
    expect(t.backend.calls).toHaveLength(NOT_FOUND_RETRY_DELAYS_MS.length + 1);
    expect(t.show()).toMatchObject({mode: 'not_needed', text: TEXT.notNeeded, showInput: false});
  });

  it('an order that arrives while we wait is shown', async () => {
    const t = setup();
    t.backend.force({status: 404}, {status: 404});
    await t.controller.start();
    expect(t.delays).toEqual(NOT_FOUND_RETRY_DELAYS_MS.slice(0, 2));
    expect(t.show().mode).toBe('enter');
  });

  it('loading state before the first answer', () => {
    const t = setup();
    t.controller.start();
    expect(t.show()).toMatchObject({mode: 'loading', text: TEXT.loading});
  });

  it('network error on load shows a retry message, and retry works', async () => {
    const t = setup();
    t.backend.force('network');
    await t.controller.start();
    expect(t.show()).toMatchObject({mode: 'failed', text: TEXT.network, tone: 'critical', showRetry: true});
    await t.controller.retry();
    expect(t.show().mode).toBe('enter');
  });

  it('network error on verify keeps the code and retries it', async () => {
    const {controller, show, backend} = await ready();
    controller.setInput('482913');
    backend.force('network');
    await controller.verify();
    expect(show()).toMatchObject({mode: 'enter', showRetry: true, notice: {tone: 'critical', text: TEXT.network}});
    expect(controller.getState().input).toBe('482913');
    await controller.retry();
    expect(show().mode).toBe('verified');
  });

  it('network error on resend, then retry', async () => {
    const {controller, show, backend} = await ready({resendAfterSeconds: 5});
    backend.advance(5);
    backend.force('network');
    await controller.resend();
    expect(show()).toMatchObject({showRetry: true, notice: {text: TEXT.network}});
    await controller.retry();
    expect(show().notice).toEqual({tone: 'success', text: TEXT.resent});
  });

  it('rate limited: please wait a moment', async () => {
    const {controller, show, backend} = await ready();
    controller.setInput('482913');
    backend.force({status: 429});
    await controller.verify();
    expect(show().notice).toEqual({tone: 'critical', text: TEXT.rateLimited});
    expect(show().canVerify).toBe(true);
  });

  it('server error on load', async () => {
    const t = setup();
    t.backend.force({status: 503});
    await t.controller.start();
    expect(t.show()).toMatchObject({mode: 'failed', text: TEXT.serverError, showRetry: true});
  });

  it('404 on verify means the order needs no code', async () => {
    const {controller, show, backend} = await ready();
    controller.setInput('482913');
    backend.force({status: 404});
    await controller.verify();
    expect(show().mode).toBe('not_needed');
  });

  it('an unknown state shows the backend message', async () => {
    const t = setup();
    t.backend.force({status: 200, body: {state: 'on_hold', message: 'Please wait for our call.'}});
    await t.controller.start();
    expect(t.show()).toMatchObject({mode: 'unknown', text: 'Please wait for our call.'});
  });

  it('tells subscribers about every change', async () => {
    const t = setup();
    const seen = [];
    const off = t.controller.subscribe((s) => seen.push(s.phase));
    await t.controller.start();
    off();
    expect(seen).toEqual(['loading', 'ready']);
  });
});
