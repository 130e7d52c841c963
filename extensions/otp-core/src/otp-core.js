// codverify OTP entry: the logic shared by the checkout extensions.
//
// Plain JavaScript with no imports, so it runs unchanged inside Shopify's extension sandbox, in the
// post-purchase (React 17) extension, in the Thank-you / Order status (Preact) extension and under
// vitest. Both extensions import it as `@codverify/otp-core` (an npm workspace, see
// extensions/README.md); the Shopify CLI bundles it into each extension.
//
// Three parts:
//   1. input checks: `readOtp` (4–8 digits, spaces and Indian-script digits accepted);
//   2. an API client for the codverify backend (`createOtpClient`): bearer token, one fresh token
//      and a retry on 401, a time limit, and every failure mapped to a small set of kinds;
//   3. a state machine (`createOtpController` + `describe`): what the block shows, the resend
//      countdown, what the buttons do. The UI components only draw `describe(...)`.

// ---------------------------------------------------------------------------------------------
// 1. Input

export const OTP_MIN_DIGITS = 4;
export const OTP_MAX_DIGITS = 8;

// First code point of each run of ten decimal digits a shopper in India may type with a local
// keyboard: Devanagari, Bengali, Gurmukhi, Gujarati, Odia, Tamil, Telugu, Kannada, Malayalam,
// and full-width digits.
const DIGIT_ZEROS = [0x0966, 0x09e6, 0x0a66, 0x0ae6, 0x0b66, 0x0be6, 0x0c66, 0x0ce6, 0x0d66, 0xff10];

function toAsciiDigit(ch) {
  const cp = ch.codePointAt(0);
  for (const zero of DIGIT_ZEROS) {
    if (cp >= zero && cp <= zero + 9) return String(cp - zero);
  }
  return ch;
}

/**
 * Cleans what the shopper typed and checks it.
 * Returns `{ok: true, otp}` (ASCII digits) or `{ok: false, error}` (a sentence for the shopper).
 */
export function readOtp(raw) {
  const text = Array.from(String(raw ?? ''))
    .map(toAsciiDigit)
    .join('')
    .replace(/[\s\-.]/g, '');
  if (text === '') return {ok: false, error: 'Please type the code from the SMS.'};
  if (!/^[0-9]+$/.test(text)) {
    return {ok: false, error: 'The code has only numbers (0 to 9). Please check the SMS.'};
  }
  if (text.length < OTP_MIN_DIGITS || text.length > OTP_MAX_DIGITS) {
    return {
      ok: false,
      error: `The code should be ${OTP_MIN_DIGITS} to ${OTP_MAX_DIGITS} numbers long. Please check the SMS.`,
    };
  }
  return {ok: true, otp: text};
}

// ---------------------------------------------------------------------------------------------
// 2. API client

export const REQUEST_TIMEOUT_MS = 15000;

/**
 * @param {object} options
 * @param {string} options.baseUrl   the app's public origin (APP_URL), e.g. https://codverify.example.com
 * @param {() => Promise<string>|string} options.getToken  returns the Shopify-signed token; called
 *        again once after a 401 (sessionToken.get() then hands out a fresh one)
 * @param {typeof fetch} [options.fetch]
 * @param {number} [options.timeoutMs]
 *
 * Each method resolves (never rejects) to one of:
 *   {kind: 'ok', body}           HTTP 200 with a JSON body that has a `state`
 *   {kind: 'not_found'}          404: the backend does not know this order for this shop
 *   {kind: 'rate_limited'}       429
 *   {kind: 'unauthorized'}       401 twice (the fresh token was refused too)
 *   {kind: 'bad_request'}        400
 *   {kind: 'server_error'}       5xx, or a 200 whose body is not the expected JSON
 *   {kind: 'network'}            no answer: offline, DNS, CORS, time limit
 */
export function createOtpClient({baseUrl, getToken, fetch: fetchImpl, timeoutMs = REQUEST_TIMEOUT_MS}) {
  const doFetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
  const origin = String(baseUrl).replace(/\/+$/, '');

  async function once(path, init, token) {
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = controller ? setTimeout(() => controller.abort(), timeoutMs) : null;
    try {
      const headers = {Accept: 'application/json', Authorization: `Bearer ${token}`};
      if (init.body !== undefined) headers['Content-Type'] = 'application/json';
      const response = await doFetch(`${origin}${path}`, {
        method: init.method,
        headers,
        body: init.body,
        signal: controller ? controller.signal : undefined,
      });
      return response;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  async function request(path, init) {
    let response;
    try {
      response = await once(path, init, await getToken());
      if (response.status === 401) {
        // Session tokens live one to five minutes; ask for a fresh one once.
        response = await once(path, init, await getToken());
      }
    } catch (_error) {
      return {kind: 'network'};
    }
    const status = response.status;
    if (status === 401 || status === 403) return {kind: 'unauthorized'};
    if (status === 404) return {kind: 'not_found'};
    if (status === 429) return {kind: 'rate_limited'};
    if (status === 400 || status === 422) return {kind: 'bad_request'};
    if (status !== 200) return {kind: 'server_error', status};
    let body;
    try {
      body = await response.json();
    } catch (_error) {
      return {kind: 'server_error', status};
    }
    if (!body || typeof body !== 'object' || typeof body.state !== 'string') {
      return {kind: 'server_error', status};
    }
    return {kind: 'ok', body};
  }

  return {
    status(orderId) {
      return request(`/api/otp/status?order_id=${encodeURIComponent(orderId)}`, {method: 'GET'});
    },
    verify(orderId, otp) {
      return request('/api/otp/verify', {
        method: 'POST',
        body: JSON.stringify({order_id: String(orderId), otp}),
      });
    },
    resend(orderId) {
      return request('/api/otp/resend', {
        method: 'POST',
        body: JSON.stringify({order_id: String(orderId)}),
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 3. State machine

// Right after checkout the backend may not have received the order yet (it arrives by webhook):
// a 404 is asked again after these delays before the block says "no code needed".
export const NOT_FOUND_RETRY_DELAYS_MS = [2000, 4000, 8000];

export const TEXT = {
  title: 'Confirm your order',
  intro: 'We sent a code by SMS to the phone number on your order. Type it here to confirm your order.',
  label: 'Code from SMS',
  verify: 'Verify',
  resend: 'Resend code',
  tryAgain: 'Try again',
  loading: 'Checking your order…',
  verifiedTitle: 'Order confirmed',
  verified: 'Thank you! Your order is confirmed. You do not need to do anything more.',
  lockedTitle: 'Could not confirm with a code',
  locked:
    'The code was entered wrong too many times, so it cannot be used any more. Your order is still placed. The store may call you to confirm it.',
  expiredTitle: 'Code expired',
  expiredCanResend: 'This code has expired. Tap "Resend code" to get a new code by SMS.',
  expiredFinal:
    'This code has expired and we cannot send a new one. Your order is still placed. The store may call you to confirm it.',
  notNeeded: 'This order does not need a code. You do not need to do anything more.',
  resent: 'We sent a new code by SMS. It can take a minute to arrive. Please type the newest code.',
  noResendsLeft: 'We cannot send more codes. Please use the last code we sent.',
  noResendsLeftHint: 'No more new codes can be sent for this order.',
  network: 'We could not connect. Please check your internet and try again.',
  serverError: 'Something went wrong on our side. Please try again in a moment.',
  rateLimited: 'Too many tries in a short time. Please wait a moment and try again.',
  sessionEnded: 'This page has been open for a long time. Please refresh the page and try again.',
  badRequest: 'Something went wrong. Please refresh the page and try again.',
};

export function incorrectText(attemptsLeft) {
  if (typeof attemptsLeft !== 'number') return 'That code is not correct. Please check the SMS and try again.';
  if (attemptsLeft <= 0) return 'That code is not correct.';
  return `That code is not correct. You can try ${attemptsLeft} more ${attemptsLeft === 1 ? 'time' : 'times'}.`;
}

export function tooSoonText(seconds) {
  return `Please wait ${formatWait(seconds)} before asking for a new code.`;
}

/** 25 → "25 seconds", 1 → "1 second", 95 → "1:35 minutes". */
export function formatWait(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s} ${s === 1 ? 'second' : 'seconds'}`;
  const m = Math.floor(s / 60);
  const rest = String(s % 60).padStart(2, '0');
  return `${m}:${rest} ${m === 1 && rest === '00' ? 'minute' : 'minutes'}`;
}

/** "Resend code in 0:25" while waiting. */
export function formatClock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function failureText(kind) {
  switch (kind) {
    case 'rate_limited':
      return TEXT.rateLimited;
    case 'unauthorized':
      return TEXT.sessionEnded;
    case 'bad_request':
      return TEXT.badRequest;
    case 'server_error':
      return TEXT.serverError;
    default:
      return TEXT.network;
  }
}

// Failures worth a "Try again" button (the others need the shopper to wait or refresh).
function canRetry(kind) {
  return kind === 'network' || kind === 'server_error' || kind === 'rate_limited';
}

function num(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * The controller holds the block's state and talks to the API. The UI calls
 * `start`, `setInput`, `verify`, `resend`, `retry`, and re-draws on `subscribe`.
 *
 * @param {object} options
 * @param {ReturnType<typeof createOtpClient>} options.client
 * @param {string} options.orderId
 * @param {() => number} [options.now]   milliseconds; tests pass a fake clock
 * @param {(fn: () => void, ms: number) => any} [options.setTimeout]
 * @param {number[]} [options.notFoundRetryDelays]
 */
export function createOtpController({
  client,
  orderId,
  now = () => Date.now(),
  setTimeout: schedule = (fn, ms) => setTimeout(fn, ms),
  notFoundRetryDelays = NOT_FOUND_RETRY_DELAYS_MS,
}) {
  let state = {
    phase: 'loading', // loading | ready | not_needed | hidden | failed
    server: null, // last answer from the backend (state, attempts_left, …)
    receivedAt: 0, // when `server` arrived, for the countdowns
    input: '',
    inputError: null,
    busy: null, // null | 'verify' | 'resend'
    notice: null, // {tone: 'success'|'info'|'warning'|'critical', text}
    failure: null, // {kind, action: 'status'|'verify'|'resend'} when the last call failed
  };
  const listeners = new Set();

  function set(patch) {
    state = {...state, ...patch};
    for (const listener of listeners) listener(state);
  }

  function takeAnswer(body, extra = {}) {
    set({
      server: body,
      receivedAt: now(),
      phase: body.state === 'not_required' ? 'hidden' : 'ready',
      failure: null,
      ...extra,
    });
  }

  async function loadStatus(notFoundCount = 0) {
    const answer = await client.status(orderId);
    if (answer.kind === 'ok') {
      takeAnswer(answer.body, {notice: null});
      return;
    }
    if (answer.kind === 'not_found') {
      if (notFoundCount < notFoundRetryDelays.length) {
        await new Promise((resolve) => schedule(resolve, notFoundRetryDelays[notFoundCount]));
        return loadStatus(notFoundCount + 1);
      }
      set({phase: 'not_needed', failure: null});
      return;
    }
    set({phase: 'failed', failure: {kind: answer.kind, action: 'status'}});
  }

  function afterActionFailure(kind, action) {
    set({busy: null, failure: {kind, action}, notice: {tone: 'critical', text: failureText(kind)}});
  }

  const controller = {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    /** Loads the order's OTP status. */
    start() {
      set({phase: 'loading', failure: null});
      return loadStatus();
    },

    setInput(value) {
      set({input: String(value ?? ''), inputError: null});
    },

    async verify() {
      const view = describe(state, now());
      if (!view.canVerify) return;
      const checked = readOtp(state.input);
      if (!checked.ok) {
        set({inputError: checked.error});
        return;
      }
      set({busy: 'verify', inputError: null, notice: null, failure: null});
      const answer = await client.verify(orderId, checked.otp);
      if (answer.kind === 'not_found') {
        set({busy: null, phase: 'not_needed'});
        return;
      }
      if (answer.kind !== 'ok') {
        afterActionFailure(answer.kind, 'verify');
        return;
      }
      const body = answer.body;
      let notice = null;
      let input = state.input;
      if (body.result === 'incorrect' && body.state === 'pending') {
        notice = {tone: 'critical', text: incorrectText(num(body.attempts_left))};
        input = '';
      } else if (!['verified', 'locked', 'expired', 'incorrect'].includes(body.result) && body.message) {
        notice = {tone: 'info', text: String(body.message)};
      }
      takeAnswer(body, {busy: null, notice, input});
    },

    async resend() {
      const view = describe(state, now());
      if (!view.canResend) return;
      set({busy: 'resend', notice: null, failure: null, inputError: null});
      const answer = await client.resend(orderId);
      if (answer.kind === 'not_found') {
        set({busy: null, phase: 'not_needed'});
        return;
      }
      if (answer.kind !== 'ok') {
        afterActionFailure(answer.kind, 'resend');
        return;
      }
      const body = answer.body;
      let notice = null;
      let input = state.input;
      if (body.result === 'resent') {
        notice = {tone: 'success', text: TEXT.resent};
        input = '';
      } else if (body.result === 'too_soon') {
        notice = {tone: 'info', text: tooSoonText(num(body.resend_in_seconds) ?? 0)};
      } else if (body.result === 'no_resends_left') {
        notice = {tone: 'warning', text: TEXT.noResendsLeft};
      } else if (body.message) {
        notice = {tone: 'info', text: String(body.message)};
      }
      takeAnswer(body, {busy: null, notice, input});
    },

    /** Repeats whatever failed last ("Try again"). */
    retry() {
      const failure = state.failure;
      if (!failure) return Promise.resolve();
      if (failure.action === 'status' || !state.server) return controller.start();
      set({failure: null, notice: null});
      return failure.action === 'verify' ? controller.verify() : controller.resend();
    },
  };
  return controller;
}

/** True while something on screen counts down (resend wait, code expiry): redraw every second. */
export function needsTicking(view) {
  return view.mode === 'enter' || (view.mode === 'expired' && view.resendWaitSeconds > 0);
}

/**
 * What to draw, from the controller's state and the current time (ms).
 * `mode`: hidden | loading | not_needed | failed | enter | verified | locked | expired
 */
export function describe(state, nowMs) {
  const view = {
    mode: 'hidden',
    title: TEXT.title,
    text: null,
    tone: null,
    showInput: false,
    inputError: state.inputError,
    notice: state.notice,
    busy: state.busy,
    canVerify: false,
    showResend: false,
    canResend: false,
    resendWaitSeconds: 0,
    resendLabel: TEXT.resend,
    resendHint: null,
    showRetry: false,
    attemptsLeft: null,
  };

  if (state.phase === 'hidden') return view;
  if (state.phase === 'loading') return {...view, mode: 'loading', text: TEXT.loading};
  if (state.phase === 'not_needed') return {...view, mode: 'not_needed', text: TEXT.notNeeded, tone: 'info'};
  if (state.phase === 'failed') {
    const kind = state.failure ? state.failure.kind : 'network';
    return {
      ...view,
      mode: 'failed',
      text: failureText(kind),
      tone: 'critical',
      notice: null,
      showRetry: canRetry(kind),
    };
  }

  const server = state.server || {};
  const elapsed = Math.max(0, (nowMs - state.receivedAt) / 1000);
  const resendsLeft = num(server.resends_left);
  const resendIn = num(server.resend_in_seconds);
  const expiresIn = num(server.expires_in_seconds);
  const resendWait = resendIn === null ? 0 : Math.max(0, Math.ceil(resendIn - elapsed));
  const mayResend = resendsLeft === null || resendsLeft > 0;
  const failure = state.failure;
  view.showRetry = Boolean(failure && canRetry(failure.kind));
  view.attemptsLeft = num(server.attempts_left);

  let serverState = server.state;
  // The code ran out while the page was open: show it as expired without waiting for the backend.
  if (serverState === 'pending' && expiresIn !== null && elapsed >= expiresIn) serverState = 'expired';

  const resendControls = () => {
    view.showResend = mayResend;
    view.resendWaitSeconds = mayResend ? resendWait : 0;
    view.canResend = mayResend && resendWait === 0 && !state.busy;
    view.resendLabel = mayResend && resendWait > 0 ? `${TEXT.resend} in ${formatClock(resendWait)}` : TEXT.resend;
    view.resendHint = mayResend
      ? resendWait > 0
        ? `You can ask for a new code in ${formatWait(resendWait)}.`
        : null
      : TEXT.noResendsLeftHint;
  };

  switch (serverState) {
    case 'verified':
      return {...view, mode: 'verified', title: TEXT.verifiedTitle, text: TEXT.verified, tone: 'success', notice: null, showRetry: false};
    case 'locked':
      return {...view, mode: 'locked', title: TEXT.lockedTitle, text: TEXT.locked, tone: 'warning', notice: null, showRetry: false};
    case 'expired': {
      resendControls();
      if (!mayResend) {
        return {...view, mode: 'expired', title: TEXT.expiredTitle, text: TEXT.expiredFinal, tone: 'warning', notice: null, showRetry: false};
      }
      return {...view, mode: 'expired', title: TEXT.expiredTitle, text: TEXT.expiredCanResend, tone: 'warning'};
    }
    case 'pending': {
      resendControls();
      return {
        ...view,
        mode: 'enter',
        text: TEXT.intro,
        showInput: true,
        canVerify: !state.busy && (view.attemptsLeft === null || view.attemptsLeft > 0),
      };
    }
    case 'not_required':
      return view;
    default:
      // A state this version does not know: show the backend's own sentence, if any.
      return {...view, mode: 'unknown', text: server.message ? String(server.message) : TEXT.serverError, tone: 'info'};
  }
}
