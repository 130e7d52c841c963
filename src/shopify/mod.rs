//! Everything that talks to or hears from Shopify.

pub mod admin;
pub mod fulfillment;
pub mod oauth;
pub mod session;
pub mod tokens;

use secrecy::SecretString;

use crate::domain::ShopDomain;

/// The app as Shopify knows it: client id and secret, scopes, and where Shopify's API is.
pub struct ShopifyApp {
    pub api_key: String,
    secret: SecretString,
    pub scopes: String,
    /// Test/staging override for `https://{shop}` (SHOPIFY_API_ORIGIN).
    api_origin: Option<String>,
    pub app_url: String,
    http: reqwest::Client,
    /// Demo mode: the (public) demo credentials authorise this shop alone.
    only_shop: Option<ShopDomain>,
}

/// The Admin API version every request is pinned to.
pub const API_VERSION: &str = "2026-10";

impl ShopifyApp {
    pub fn new(
        api_key: String,
        secret: SecretString,
        scopes: String,
        api_origin: Option<String>,
        app_url: String,
        http: reqwest::Client,
    ) -> Self {
        ShopifyApp {
            api_key,
            secret,
            scopes,
            api_origin,
            app_url,
            http,
            only_shop: None,
        }
    }

    /// Credentials that sign for one shop only (the demo's): tokens and webhooks naming any other
    /// shop are refused, whoever signed them.
    pub fn only_for(mut self, shop: ShopDomain) -> Self {
        self.only_shop = Some(shop);
        self
    }

    /// Whether tokens and webhooks signed with these credentials may speak for `shop`.
    pub fn serves(&self, shop: &ShopDomain) -> bool {
        self.only_shop.as_ref().is_none_or(|only| only == shop)
    }

    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// Where OAuth token and Admin API requests for `shop` go.
    pub fn api_origin(&self, shop: &ShopDomain) -> String {
        match &self.api_origin {
            Some(o) => o.clone(),
            None => format!("https://{shop}"),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}
