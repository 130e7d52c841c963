//! A shop's offline token, decrypted on demand and refreshed before it expires — once, however many
//! tasks ask at the same moment: one in-process lock per shop, plus a lease row in the database so
//! that several processes don't refresh the same token either.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::oauth::OAuthError;
use crate::domain::{ShopDomain, ShopStatus};
use crate::app::App;
use crate::db::shops;

/// Refresh this long before expiry, so a token never expires mid-request.
const REFRESH_MARGIN_MS: i64 = 60_000;
/// How long a refreshing process may hold the lease (real time).
const LEASE_MS: i64 = 30_000;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the shop has not installed the app (or uninstalled it)")]
    NotInstalled,
    #[error("the shop's token can no longer be refreshed; the merchant must open the app again")]
    ReauthRequired,
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        TokenError::Other(e.into())
    }
}

/// A usable access token for the shop. `rejected` is a token Shopify just answered 401 to: it is
/// refreshed even if it has not expired yet (unless another task already replaced it).
pub async fn access_token(app: &App, shop_id: &str, rejected: Option<&SecretString>) -> Result<SecretString, TokenError> {
    let lock = app.token_locks.for_shop(shop_id);
    let _guard = lock.lock().await;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(LEASE_MS as u64 + 5_000);
    loop {
        let shop = shops::find(&app.db, shop_id).await?.ok_or(TokenError::NotInstalled)?;
        let (Some(enc), true) = (shop.access_token_enc.clone(), shop.status == ShopStatus::Installed) else {
            return Err(TokenError::NotInstalled);
        };
        let token = app.cipher.decrypt(&enc).map_err(anyhow::Error::from)?;
        let now = app.clock.now_ms();
        let was_rejected = rejected.is_some_and(|r| r.expose_secret() == token.expose_secret());
        let fresh = shop.access_token_expires_at.is_none_or(|exp| exp - REFRESH_MARGIN_MS > now);
        if fresh && !was_rejected {
            return Ok(token);
        }
        let Some(refresh_enc) = shop.refresh_token_enc.clone() else {
            return Err(TokenError::ReauthRequired);
        };
        if shop.refresh_token_expires_at.is_some_and(|exp| exp <= now) {
            return Err(TokenError::ReauthRequired);
        }
        let wall = chrono::Utc::now().timestamp_millis();
        let leased = shops::take_refresh_lease(&app.db, shop_id, &enc, wall, wall + LEASE_MS).await?;
        if !leased {
            // Another process is refreshing (or just did): wait for its result.
            if tokio::time::Instant::now() > deadline {
                return Err(TokenError::Other(anyhow::anyhow!(
                    "timed out waiting for another process to refresh the token"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let refresh = app.cipher.decrypt(&refresh_enc).map_err(anyhow::Error::from)?;
        let shopify = app.shopify.as_ref().ok_or(TokenError::NotInstalled)?;
        let domain = ShopDomain::parse(&shop.domain).map_err(|e| anyhow::anyhow!(e))?;
        match shopify.refresh(&domain, &refresh, now).await {
            Ok(set) => {
                shops::store_tokens(&app.db, &app.cipher, shop_id, &set, app.clock.now_ms()).await?;
                tracing::info!(shop = %domain, "refreshed the shop's access token");
                return Ok(set.access_token);
            }
            Err(e) => {
                shops::release_refresh_lease(&app.db, shop_id).await?;
                return Err(match e {
                    OAuthError::Refused(_) => TokenError::ReauthRequired,
                    other => other.into(),
                });
            }
        }
    }
}
