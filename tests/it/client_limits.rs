//! Per-client limits behind the load balancer (the test client is a loopback peer, so the client
//! is the last `X-Forwarded-For` hop): an IPv6 client is its /64.

use crate::both_dbs;
use crate::common::{Backend, TestApp};

/// Requests from `client` until the first 429; how many got through.
async fn until_refused(client: &str, max: usize, send: impl Fn(usize) -> reqwest::RequestBuilder) -> usize {
    for i in 0..max {
        let r = send(i).header("X-Forwarded-For", client).send().await.unwrap();
        if r.status() == 429 {
            return i;
        }
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    max
}

async fn ipv6_clients_share_a_budget_per_64(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let link = |i: usize| app.client.get(app.url(&format!("/v/{:0>24}", i)));
    let otp = |_: usize| app.client.get(app.url("/api/otp/status")).query(&[("order_id", "1")]);
    for (send, budget) in [(&link as &dyn Fn(usize) -> reqwest::RequestBuilder, 120), (&otp, 300)] {
        assert!(until_refused("2001:db8:aa:1::1", 5000, send).await >= budget);
        // Another address of the same /64 finds the budget spent (a slot or two may refill
        // meanwhile: the budgets refill every 0.2-0.5 s)...
        assert!(until_refused("2001:db8:aa:1:ffff:eeee:dddd:2", 5000, send).await < 10, "one budget per /64");
        // ...a neighbouring /64 has its own.
        assert!(until_refused("2001:db8:aa:2::1", 5000, send).await >= budget, "another /64");
    }
    app.stop().await;
}

both_dbs!(ipv6_clients_share_a_budget_per_64);
