//! The shared context of requests and jobs, built once at start-up: configuration, the pool, the
//! app clock, the cipher and the platform clients. It sits with the clients (layer 3), so the
//! workflows above can take it and nothing below needs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Cipher;
use crate::db::Db;
use crate::db::inbox::Intake;
use crate::shopify::ShopifyApp;

/// Everything a request or a job needs, built once at start-up.
pub struct App {
    pub config: Config,
    pub db: Db,
    pub clock: Clock,
    pub cipher: Cipher,
    pub http: reqwest::Client,
    /// `None` in demo mode.
    pub shopify: Option<ShopifyApp>,
    pub token_locks: TokenLocks,
    pub intake: Intake,
    /// Key that signs the browser-bound OAuth state cookie.
    pub cookie_key: cookie::Key,
}

/// One lock per shop, so a process refreshes a shop's offline token once however many tasks ask
/// (see `shopify::tokens`).
#[derive(Default)]
pub struct TokenLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl TokenLocks {
    pub(crate) fn for_shop(&self, shop_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .expect("lock poisoned")
            .entry(shop_id.to_string())
            .or_default()
            .clone()
    }
}
