//! The Admin GraphQL client against the fake Shopify: throttling, 5xx, and 401 → refresh.

use codverify::shopify::admin;
use serde_json::json;

use crate::both_dbs;
use crate::common::{Backend, TestApp};

const SHOP: &str = "acme.myshopify.com";
const GID: &str = "gid://shopify/Order/1001";

async fn installed(backend: Backend) -> Option<(TestApp, String)> {
    let app = TestApp::spawn(backend).await?;
    app.install(SHOP).await;
    let id = app.text(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'")).await.unwrap();
    Some((app, id))
}

async fn tags_add_and_cancel(backend: Backend) {
    let Some((app, shop_id)) = installed(backend).await else { return };
    admin::tags_add(&app.state, &shop_id, GID, &["COD Confirmed"]).await.unwrap();
    admin::order_cancel(&app.state, &shop_id, GID, "Cancelled by the customer on the codverify call").await.unwrap();
    let reqs = app.shopify.graphql_requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].0, "shpat_1");
    assert!(reqs[0].1["query"].as_str().unwrap().contains("tagsAdd("));
    assert_eq!(reqs[0].1["variables"], json!({"id": GID, "tags": ["COD Confirmed"]}));
    let cancel = &reqs[1].1["variables"];
    assert_eq!(cancel["reason"], "CUSTOMER");
    assert_eq!(cancel["restock"], true);
    assert_eq!(cancel["notifyCustomer"], false);
    assert_eq!(cancel["refundMethod"], json!({"originalPaymentMethodsRefund": false}));
    app.stop().await;
}

async fn throttled_then_success(backend: Backend) {
    let Some((app, shop_id)) = installed(backend).await else { return };
    app.shopify.script_graphql(200, json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 10, "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 5, "restoreRate": 100.0}}}}));
    admin::tags_add(&app.state, &shop_id, GID, &["COD Confirmed"]).await.unwrap();
    assert_eq!(app.shopify.graphql_requests().len(), 2);
    app.stop().await;
}

async fn server_errors_then_success(backend: Backend) {
    let Some((app, shop_id)) = installed(backend).await else { return };
    app.shopify.script_graphql(502, json!({"errors": "Bad gateway"}));
    app.shopify.script_graphql(503, json!({"errors": "Unavailable"}));
    admin::tags_add(&app.state, &shop_id, GID, &["COD Confirmed"]).await.unwrap();
    assert_eq!(app.shopify.graphql_requests().len(), 3);

    // Errors that retrying cannot fix are returned, not retried.
    app.shopify.script_graphql(200, json!({"data": {"tagsAdd": {"node": null, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}}}));
    let err = admin::tags_add(&app.state, &shop_id, GID, &["COD Confirmed"]).await.unwrap_err();
    assert!(err.to_string().contains("Order does not exist"));
    assert!(!err.is_transient());
    assert_eq!(app.shopify.graphql_requests().len(), 4);
    app.stop().await;
}

async fn unauthorized_refreshes_once(backend: Backend) {
    let Some((app, shop_id)) = installed(backend).await else { return };
    // The token is revoked before its expiry: one refresh, then success with the new token.
    app.shopify.revoke_all();
    admin::tags_add(&app.state, &shop_id, GID, &["COD Confirmed"]).await.unwrap();
    assert_eq!(app.shopify.grant_count("refresh_token"), 1);
    let tokens: Vec<String> = app.shopify.graphql_requests().into_iter().map(|(t, _)| t).collect();
    assert_eq!(tokens, ["shpat_1", "shpat_2"]);

    // Refused again after the refresh: a clear error, and no endless refreshing.
    app.shopify.state.lock().unwrap().expires_in = 3600;
    app.shopify.script_graphql(401, json!({"errors": "[API] Invalid API key or access token"}));
    app.shopify.script_graphql(401, json!({"errors": "[API] Invalid API key or access token"}));
    let err = admin::tags_add(&app.state, &shop_id, GID, &["COD Confirmed"]).await.unwrap_err();
    assert!(matches!(err, admin::AdminError::Unauthorized), "{err}");
    assert_eq!(app.shopify.grant_count("refresh_token"), 2);
    app.stop().await;
}

both_dbs!(tags_add_and_cancel, throttled_then_success, server_errors_then_success, unauthorized_refreshes_once);
