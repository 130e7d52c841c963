//! Getting and renewing a shop's offline access token: the authorization-code grant (through the
//! `oauth2` crate), token exchange of an App Bridge id token, and refresh of expiring tokens.

use std::time::Duration;

use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    HttpRequest, HttpResponse, RedirectUrl, RefreshToken, RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::ShopifyApp;
use crate::crypto::{ct_eq, hmac_sha256};
use crate::domain::ShopDomain;
use crate::db::shops::TokenSet;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Shopify said no (bad code, bad id token, revoked refresh token): not worth retrying.
    #[error("Shopify refused the token request: {0}")]
    Refused(String),
    /// Network trouble or a 5xx: worth retrying later.
    #[error("Shopify's token endpoint could not be reached: {0}")]
    Unreachable(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShopifyExtra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token_expires_in: Option<u64>,
}
impl ExtraTokenFields for ShopifyExtra {}

type ShopifyTokenResponse = StandardTokenResponse<ShopifyExtra, BasicTokenType>;
type OAuthClient = Client<
    BasicErrorResponse,
    ShopifyTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Checks the `hmac` of an OAuth callback (or any admin-signed query): every other parameter but
/// `signature`, sorted, form-encoded with spaces as `%20`, HMAC-SHA256 with the client secret, hex.
pub fn verify_query_hmac(secret: &SecretString, pairs: &[(String, String)]) -> bool {
    let Some(given) = pairs.iter().find(|(k, _)| k == "hmac").map(|(_, v)| v.to_ascii_lowercase()) else {
        return false;
    };
    let mut rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != "hmac" && k != "signature").collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let enc = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let message = rest
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let expected = hex::encode(hmac_sha256(secret.expose_secret().as_bytes(), message.as_bytes()));
    ct_eq(expected.as_bytes(), given.as_bytes())
}

impl ShopifyApp {
    fn oauth_client(&self, shop: &ShopDomain) -> OAuthClient {
        Client::new(ClientId::new(self.api_key.clone()))
            .set_client_secret(ClientSecret::new(self.secret().expose_secret().to_string()))
            // The browser goes to the real shop; only server-to-server calls honour SHOPIFY_API_ORIGIN.
            .set_auth_uri(AuthUrl::new(format!("https://{shop}/admin/oauth/authorize")).expect("valid URL"))
            .set_token_uri(TokenUrl::new(format!("{}/admin/oauth/access_token", self.api_origin(shop))).expect("valid URL"))
            .set_redirect_uri(RedirectUrl::new(format!("{}/auth/callback", self.app_url)).expect("valid URL"))
            .set_auth_type(AuthType::RequestBody)
    }

    /// The URL that asks the merchant to install the app with an offline token.
    pub fn authorize_url(&self, shop: &ShopDomain, state: &str) -> String {
        let state = state.to_string();
        let (url, _) = self
            .oauth_client(shop)
            .authorize_url(move || CsrfToken::new(state))
            // Shopify takes the comma-separated list as is (oauth2's scopes would be space-joined).
            .add_extra_param("scope", self.scopes.clone())
            // An empty grant option asks for an offline (shop) token.
            .add_extra_param("grant_options[]", "")
            .url();
        url.to_string()
    }

    pub async fn exchange_code(&self, shop: &ShopDomain, code: &str, now_ms: i64) -> Result<TokenSet, OAuthError> {
        let resp = self
            .oauth_client(shop)
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .add_extra_param("expiring", "1")
            .request_async(&|req| send(self.http().clone(), req))
            .await
            .map_err(map_oauth_error)?;
        Ok(token_set(&resp, now_ms))
    }

    pub async fn refresh(&self, shop: &ShopDomain, refresh_token: &SecretString, now_ms: i64) -> Result<TokenSet, OAuthError> {
        let resp = self
            .oauth_client(shop)
            .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_string()))
            .request_async(&|req| send(self.http().clone(), req))
            .await
            .map_err(map_oauth_error)?;
        Ok(token_set(&resp, now_ms))
    }

    /// Exchanges an App Bridge id token for an expiring offline token (Shopify-managed install).
    /// RFC 8693 token exchange is not part of the `oauth2` crate, so this one is plain reqwest.
    pub async fn token_exchange(&self, shop: &ShopDomain, id_token: &str, now_ms: i64) -> Result<TokenSet, OAuthError> {
        let body = serde_json::json!({
            "client_id": self.api_key,
            "client_secret": self.secret().expose_secret(),
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": id_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
            "expiring": "1",
        });
        let resp = self
            .http()
            .post(format!("{}/admin/oauth/access_token", self.api_origin(shop)))
            .header("Accept", "application/json")
            .json(&body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| OAuthError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| OAuthError::Unreachable(e.without_url().to_string()))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(OAuthError::Unreachable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            let reason = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(OAuthError::Refused(reason));
        }
        let parsed: ShopifyTokenResponse = serde_json::from_slice(&with_token_type(text.into_bytes()))
            .map_err(|e| OAuthError::Refused(format!("unreadable token response: {e}")))?;
        Ok(token_set(&parsed, now_ms))
    }
}

/// The `oauth2` crate's HTTP client, on the app's own reqwest (one HTTP stack in the binary).
async fn send(http: reqwest::Client, req: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    {
        let (parts, body) = req.into_parts();
        let resp = http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await?;
        let mut builder = oauth2::http::Response::builder().status(resp.status());
        for (k, v) in resp.headers() {
            builder = builder.header(k, v);
        }
        let body = resp.bytes().await?.to_vec();
        // Shopify's token responses omit `token_type`, which RFC 6749 §5.1 makes required and the
        // oauth2 crate's parser insists on; Shopify's tokens are bearer tokens.
        Ok(builder.body(with_token_type(body)).expect("valid response parts"))
    }
}

fn with_token_type(body: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut m)) if m.contains_key("access_token") && !m.contains_key("token_type") => {
            m.insert("token_type".into(), "bearer".into());
            serde_json::to_vec(&m).unwrap_or(body)
        }
        _ => body,
    }
}

fn token_set(resp: &ShopifyTokenResponse, now_ms: i64) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(resp.access_token().secret().clone()),
        expires_at: resp.expires_in().map(|d| now_ms + d.as_millis() as i64),
        refresh_token: resp.refresh_token().map(|r| SecretString::from(r.secret().clone())),
        refresh_expires_at: resp.extra_fields().refresh_token_expires_in.map(|s| now_ms + s as i64 * 1000),
        scope: resp.scopes().map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",")),
    }
}

fn map_oauth_error(e: RequestTokenError<reqwest::Error, BasicErrorResponse>) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(r) => OAuthError::Refused(r.error().to_string()),
        RequestTokenError::Request(e) => OAuthError::Unreachable(e.without_url().to_string()),
        RequestTokenError::Parse(_, body) => {
            // oauth2 reports a 5xx with a non-JSON body as a parse error.
            OAuthError::Unreachable(format!("unexpected token response ({} bytes)", body.len()))
        }
        RequestTokenError::Other(m) => OAuthError::Refused(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    #[test]
    fn shopify_published_known_answer() {
        let secret = SecretString::from("hush");
        let q = "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173";
        assert!(verify_query_hmac(&secret, &pairs(q)));
        let tampered = q.replace("some-shop", "evil-shop");
        assert!(!verify_query_hmac(&secret, &pairs(&tampered)));
        assert!(!verify_query_hmac(&SecretString::from("other"), &pairs(q)));
        assert!(!verify_query_hmac(&secret, &pairs("code=1&shop=a.myshopify.com")));
    }

    #[test]
    fn spaces_are_encoded_as_percent_20() {
        let secret = SecretString::from("s");
        let msg = "a=x%20y&b=1";
        let h = hex::encode(hmac_sha256(b"s", msg.as_bytes()));
        assert!(verify_query_hmac(&secret, &pairs(&format!("a=x+y&b=1&hmac={h}"))));
    }

    #[test]
    fn token_type_is_added_only_when_missing() {
        let out = with_token_type(br#"{"access_token":"a","expires_in":3600}"#.to_vec());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["token_type"], "bearer");
        assert_eq!(with_token_type(b"not json".to_vec()), b"not json");
    }
}
