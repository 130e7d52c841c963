// The OTP block drawn with Shopify's checkout web components (Preact). All decisions live in
// otp-core.js; this file only draws `describe(...)` and forwards clicks.
import {useEffect, useMemo, useState} from 'preact/hooks';

import {APP_URL} from './config.js';
import {createOtpClient, createOtpController, describe, needsTicking, TEXT} from '@codverify/otp-core';

/**
 * @param {{orderId: string | undefined, getToken: () => Promise<string>, baseUrl?: string, fetch?: typeof fetch}} props
 */
export function OtpBlock({orderId, getToken, baseUrl = APP_URL, fetch}) {
  const controller = useMemo(() => {
    if (!orderId) return null;
    const client = createOtpClient({baseUrl, getToken, fetch});
    return createOtpController({client, orderId});
  }, [orderId]);

  const [state, setState] = useState(() => (controller ? controller.getState() : null));
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    if (!controller) return undefined;
    const off = controller.subscribe((next) => {
      setState(next);
      setNow(Date.now());
    });
    setState(controller.getState());
    controller.start();
    return off;
  }, [controller]);

  const view = state ? describe(state, now) : null;
  const ticking = view ? needsTicking(view) : false;

  useEffect(() => {
    if (!ticking) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ticking]);

  if (!controller || !view || view.mode === 'hidden') return null;

  if (view.mode === 'loading') {
    return (
      <s-stack direction="inline" gap="small-200" alignItems="center">
        <s-spinner accessibilityLabel={TEXT.loading} />
        <s-text>{TEXT.loading}</s-text>
      </s-stack>
    );
  }

  if (view.mode === 'not_needed') {
    return <s-text color="subdued">{view.text}</s-text>;
  }

  if (view.mode === 'failed') {
    return (
      <s-banner heading={view.title} tone={view.tone}>
        <s-stack direction="block" gap="base">
          <s-paragraph>{view.text}</s-paragraph>
          {view.showRetry && (
            <s-button variant="secondary" onClick={() => controller.retry()}>
              {TEXT.tryAgain}
            </s-button>
          )}
        </s-stack>
      </s-banner>
    );
  }

  if (view.mode === 'verified' || view.mode === 'locked' || view.mode === 'unknown') {
    return (
      <s-banner heading={view.title} tone={view.tone}>
        <s-paragraph>{view.text}</s-paragraph>
      </s-banner>
    );
  }

  // enter | expired
  return (
    <s-section heading={view.mode === 'expired' ? view.title : TEXT.title}>
      <s-stack direction="block" gap="base">
        <s-paragraph>{view.text}</s-paragraph>

        {view.notice && (
          <s-banner tone={view.notice.tone}>
            <s-stack direction="block" gap="small-200">
              <s-paragraph>{view.notice.text}</s-paragraph>
              {view.showRetry && (
                <s-button variant="secondary" onClick={() => controller.retry()}>
                  {TEXT.tryAgain}
                </s-button>
              )}
            </s-stack>
          </s-banner>
        )}

        {view.showInput && (
          <s-stack direction="block" gap="base">
            <s-text-field
              label={TEXT.label}
              value={state.input}
              error={view.inputError ?? undefined}
              autocomplete="one-time-code"
              maxLength={12}
              onInput={(event) => controller.setInput(event.currentTarget.value)}
            />
            <s-button
              variant="primary"
              loading={view.busy === 'verify'}
              disabled={!view.canVerify}
              onClick={() => controller.verify()}
            >
              {TEXT.verify}
            </s-button>
          </s-stack>
        )}

        {view.showResend && (
          <s-button
            variant="secondary"
            loading={view.busy === 'resend'}
            disabled={!view.canResend}
            onClick={() => controller.resend()}
          >
            {view.resendLabel}
          </s-button>
        )}
        {view.resendHint && <s-text color="subdued">{view.resendHint}</s-text>}
      </s-stack>
    </s-section>
  );
}
