// codverify OTP on the post-purchase page (Checkout::PostPurchase::*), the reference app's way.
// Shown between checkout and the Thank you page, for stores that have post-purchase access.
// All decisions live in otp-core.js; this file only draws `describe(...)` and forwards presses.
import React, {useEffect, useMemo, useState} from 'react';
import {
  extend,
  render,
  useExtensionInput,
  Banner,
  BlockStack,
  Button,
  Heading,
  Layout,
  Spinner,
  TextBlock,
  TextContainer,
  TextField,
  View,
} from '@shopify/post-purchase-ui-extensions-react';

import {APP_URL} from './config.js';
import {createOtpClient, createOtpController, describe, needsTicking, TEXT} from '@codverify/otp-core';

const CONTINUE = 'Continue';

// Shopify signs `inputData.token` (JWT) and puts the order's id in `initialPurchase.referenceId`.
function clientFor(inputData, timeoutMs) {
  return createOtpClient({baseUrl: APP_URL, getToken: () => inputData.token, timeoutMs});
}

// Always ask for the page: the order usually reaches the backend (by webhook) only after this runs,
// so "no code needed" can rarely be known here. When it is known already, skip the page.
extend('Checkout::PostPurchase::ShouldRender', async ({inputData}) => {
  const answer = await clientFor(inputData, 3000).status(inputData.initialPurchase.referenceId);
  const skip = answer.kind === 'ok' && (answer.body.state === 'not_required' || answer.body.state === 'verified');
  return {render: !skip};
});

render('Checkout::PostPurchase::Render', () => <App />);

export function App() {
  const {inputData, done} = useExtensionInput();
  const controller = useMemo(
    () =>
      createOtpController({
        client: clientFor(inputData),
        orderId: inputData.initialPurchase.referenceId,
      }),
    [],
  );
  const [state, setState] = useState(() => controller.getState());
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    const off = controller.subscribe((next) => {
      setState(next);
      setNow(Date.now());
    });
    controller.start();
    return off;
  }, [controller]);

  const view = describe(state, now);
  const ticking = needsTicking(view);
  useEffect(() => {
    if (!ticking) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ticking]);

  // Nothing to confirm for this order: go straight on to the Thank you page.
  useEffect(() => {
    if (view.mode === 'hidden') done();
  }, [view.mode]);
  if (view.mode === 'hidden') return null;

  const finished = ['verified', 'locked', 'not_needed'].includes(view.mode);

  return (
    <BlockStack spacing="loose" alignment="center">
      <Layout maxInlineSize={0.5} media={[{viewportSize: 'small', sizes: [1]}, {viewportSize: 'medium', sizes: [0.8]}]}>
        <BlockStack spacing="loose">
          <TextContainer>
            <Heading>{view.title}</Heading>
          </TextContainer>

          {view.mode === 'loading' && (
            <BlockStack spacing="tight" alignment="center">
              <Spinner />
              <TextBlock>{view.text}</TextBlock>
            </BlockStack>
          )}

          {(view.mode === 'failed' || view.mode === 'verified' || view.mode === 'locked' || view.mode === 'unknown') && (
            <Banner status={view.tone || 'info'}>
              <TextBlock>{view.text}</TextBlock>
            </Banner>
          )}

          {view.mode === 'not_needed' && <TextBlock subdued>{view.text}</TextBlock>}

          {(view.mode === 'enter' || view.mode === 'expired') && <TextBlock>{view.text}</TextBlock>}

          {view.notice && (
            <Banner status={view.notice.tone}>
              <TextBlock>{view.notice.text}</TextBlock>
            </Banner>
          )}

          {view.showRetry && (
            <Button subdued onPress={() => controller.retry()}>
              {TEXT.tryAgain}
            </Button>
          )}

          {view.showInput && (
            <BlockStack spacing="tight">
              <TextField
                label={TEXT.label}
                value={state.input}
                error={view.inputError || undefined}
                autocomplete={{field: 'one-time-code'}}
                onInput={(value) => controller.setInput(value)}
                onChange={(value) => controller.setInput(value)}
              />
              <Button submit loading={view.busy === 'verify'} disabled={!view.canVerify} onPress={() => controller.verify()}>
                {TEXT.verify}
              </Button>
            </BlockStack>
          )}

          {view.showResend && (
            <Button subdued loading={view.busy === 'resend'} disabled={!view.canResend} onPress={() => controller.resend()}>
              {view.resendLabel}
            </Button>
          )}
          {view.resendHint && <TextBlock subdued>{view.resendHint}</TextBlock>}

          <View>
            <Button plain={!finished} onPress={() => done()}>
              {CONTINUE}
            </Button>
          </View>
        </BlockStack>
      </Layout>
    </BlockStack>
  );
}
