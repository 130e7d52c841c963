// customer-account.order-status.block.render — the Order status page (new customer accounts),
// where the shopper lands later, e.g. from the order confirmation email.
import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {OtpBlock} from './OtpBlock.jsx';

export default async () => {
  render(<Extension />, document.body);
};

function Extension() {
  // `gid://shopify/Order/<order id>`.
  const [orderId, setOrderId] = useState(() => shopify.order.value?.id);
  useEffect(() => shopify.order.subscribe((order) => setOrderId(order?.id)), []);
  return <OtpBlock orderId={orderId} getToken={() => shopify.sessionToken.get()} />;
}
