// A fake codverify backend behind a mocked `fetch`, following the OTP API contract:
// GET /api/otp/status, POST /api/otp/verify, POST /api/otp/resend, Bearer token, JSON answers.
// Time is a fake clock shared with the controller under test.

export function createFakeBackend({
  otp = '482913',
  orderId = '5678901234',
  validTokens = ['token-1'],
  attempts = 3,
  resends = 2,
  resendAfterSeconds = 30,
  expiresAfterSeconds = 600,
  state = 'pending',
} = {}) {
  const clock = {ms: 1_000_000};
  const order = {
    otp,
    state,
    attemptsLeft: attempts,
    resendsLeft: resends,
    sentAt: clock.ms,
    resendAfterSeconds,
    expiresAfterSeconds,
  };
  const calls = [];
  // Queue of forced answers: 'network' | {status, body?, raw?}; taken one per request.
  const forced = [];
  let sent = 0;

  const secondsSince = (ms) => (clock.ms - ms) / 1000;

  function refreshExpiry() {
    if (order.state === 'pending' && secondsSince(order.sentAt) >= order.expiresAfterSeconds) {
      order.state = 'expired';
    }
  }

  function snapshot(extra = {}) {
    refreshExpiry();
    const waiting = Math.max(0, Math.ceil(order.resendAfterSeconds - secondsSince(order.sentAt)));
    const expiresIn = Math.max(0, Math.ceil(order.expiresAfterSeconds - secondsSince(order.sentAt)));
    return {
      state: order.state,
      attempts_left: order.attemptsLeft,
      resends_left: order.resendsLeft,
      resend_in_seconds: order.resendsLeft > 0 ? waiting : 0,
      expires_in_seconds: order.state === 'pending' ? expiresIn : 0,
      message: `backend says ${order.state}`,
      ...extra,
    };
  }

  function json(status, body) {
    return new Response(JSON.stringify(body), {status, headers: {'Content-Type': 'application/json'}});
  }

  function idOf(value) {
    const match = /(\d+)$/.exec(String(value ?? ''));
    return match ? match[1] : null;
  }

  async function fetch(url, init = {}) {
    const u = new URL(url);
    const method = init.method ?? 'GET';
    const auth = init.headers?.Authorization ?? '';
    const body = init.body ? JSON.parse(init.body) : null;
    calls.push({method, path: u.pathname, query: Object.fromEntries(u.searchParams), auth, body});

    if (forced.length) {
      const next = forced.shift();
      if (next === 'network') throw new TypeError('Failed to fetch');
      if (next.raw !== undefined) return new Response(next.raw, {status: next.status});
      return json(next.status, next.body ?? {error: 'forced'});
    }

    const token = auth.replace(/^Bearer /, '');
    if (!validTokens.includes(token)) return json(401, {error: 'invalid token'});

    const id = idOf(method === 'GET' ? u.searchParams.get('order_id') : body?.order_id);
    if (id !== orderId) return json(404, {error: 'order not found'});

    if (method === 'GET' && u.pathname === '/api/otp/status') return json(200, snapshot());

    if (method === 'POST' && u.pathname === '/api/otp/verify') {
      if (typeof body?.otp !== 'string' || !/^\d{4,8}$/.test(body.otp)) return json(400, {error: 'bad otp'});
      refreshExpiry();
      if (order.state !== 'pending') return json(200, snapshot({result: order.state}));
      if (body.otp === order.otp) {
        order.state = 'verified';
        return json(200, snapshot({result: 'verified'}));
      }
      order.attemptsLeft -= 1;
      if (order.attemptsLeft <= 0) {
        order.state = 'locked';
        return json(200, snapshot({result: 'locked'}));
      }
      return json(200, snapshot({result: 'incorrect'}));
    }

    if (method === 'POST' && u.pathname === '/api/otp/resend') {
      refreshExpiry();
      if (order.state === 'verified' || order.state === 'locked') return json(200, snapshot({result: order.state}));
      if (order.resendsLeft <= 0) return json(200, snapshot({result: 'no_resends_left'}));
      if (secondsSince(order.sentAt) < order.resendAfterSeconds) return json(200, snapshot({result: 'too_soon'}));
      order.resendsLeft -= 1;
      order.sentAt = clock.ms;
      order.state = 'pending';
      order.otp = String(100000 + ++sent);
      return json(200, snapshot({result: 'resent'}));
    }

    return json(404, {error: 'no route'});
  }

  return {
    fetch,
    calls,
    order,
    clock,
    now: () => clock.ms,
    advance(seconds) {
      clock.ms += seconds * 1000;
    },
    force(...answers) {
      forced.push(...answers);
    },
  };
}
