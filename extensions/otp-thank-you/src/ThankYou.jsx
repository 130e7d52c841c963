// purchase.thank-you.block.render — the Thank you page, right after checkout.
import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {OtpBlock} from './OtpBlock.jsx';

export default async () => {
  render(<Extension />, document.body);
};

function Extension() {
  // `gid://shopify/OrderIdentity/<order id>`; the backend reads the trailing number.
  const [orderId, setOrderId] = useState(() => shopify.orderConfirmation.value?.order?.id);
  useEffect(
    () => shopify.orderConfirmation.subscribe((confirmation) => setOrderId(confirmation?.order?.id)),
    [],
  );
  return <OtpBlock orderId={orderId} getToken={() => shopify.sessionToken.get()} />;
}
