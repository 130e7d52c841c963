//! App Bridge session tokens: HS256 JWTs signed with the app secret.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::ShopifyApp;
use crate::domain::ShopDomain;

/// Shopify allows a few seconds of clock skew between its servers and the app.
pub const LEEWAY_SECS: i64 = 10;

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    dest: String,
    exp: i64,
    nbf: i64,
    #[serde(default)]
    sub: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub shop: ShopDomain,
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExtensionClaims {
    #[serde(default)]
    dest: Option<String>,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

impl ShopifyApp {
    /// Verifies the token a checkout extension sends (a Thank-you / Order status block's session
    /// token, or the post-purchase `inputData.token`): HS256 with the app secret, not expired, for
    /// this app when it names an audience, and naming the shop in `dest`. Returns the shop.
    pub fn verify_extension_token(&self, token: &str, now_secs: i64) -> Result<ShopDomain, String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp"]);
        let key = DecodingKey::from_secret(self.secret().expose_secret().as_bytes());
        let c = decode::<ExtensionClaims>(token, &key, &v).map_err(|e| format!("token rejected: {e}"))?.claims;
        if now_secs > c.exp + LEEWAY_SECS {
            return Err("token expired".into());
        }
        if c.nbf.is_some_and(|nbf| now_secs + LEEWAY_SECS < nbf) {
            return Err("token not yet valid".into());
        }
        let for_us = match &c.aud {
            None => true,
            Some(serde_json::Value::String(a)) => *a == self.api_key,
            Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(self.api_key.as_str())),
            Some(_) => false,
        };
        if !for_us {
            return Err("token is for another app".into());
        }
        let shop = c.dest.as_deref().and_then(|d| ShopDomain::parse(d).ok()).ok_or_else(|| "token names no shop".to_string())?;
        if !self.serves(&shop) {
            return Err("these credentials sign for the demo shop alone".into());
        }
        Ok(shop)
    }

    /// Verifies signature, audience, issuer/destination agreement and the time bounds (against the
    /// app clock, so `TEST_CLOCK` governs them too).
    pub fn verify_session_token(&self, token: &str, now_secs: i64) -> Result<Session, String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[self.api_key.as_str()]);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.set_required_spec_claims(&["exp", "nbf", "aud"]);
        let key = DecodingKey::from_secret(self.secret().expose_secret().as_bytes());
        let data = decode::<Claims>(token, &key, &v).map_err(|e| format!("session token rejected: {e}"))?;
        let c = data.claims;
        if now_secs > c.exp + LEEWAY_SECS {
            return Err("session token expired".into());
        }
        if now_secs + LEEWAY_SECS < c.nbf {
            return Err("session token not yet valid".into());
        }
        let shop = ShopDomain::parse(&c.dest).map_err(|_| "session token has no valid shop".to_string())?;
        let iss_shop = c.iss.strip_suffix("/admin").map(ShopDomain::parse);
        if !matches!(iss_shop, Some(Ok(ref s)) if *s == shop) {
            return Err("session token issuer and destination disagree".into());
        }
        if !self.serves(&shop) {
            return Err("these credentials sign for the demo shop alone".into());
        }
        Ok(Session { shop, user_id: c.sub })
    }
}
