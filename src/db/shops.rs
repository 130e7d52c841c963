//! The shop record: install status, encrypted tokens, settings.

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::Cipher;
use crate::db::{Db, Tx, new_id};
use crate::domain::{ShopDomain, ShopStatus};
use crate::{on_db, on_tx};

/// A shop's offline token as Shopify issued it. Times are unix milliseconds.
pub struct TokenSet {
    pub access_token: SecretString,
    pub expires_at: Option<i64>,
    pub refresh_token: Option<SecretString>,
    pub refresh_expires_at: Option<i64>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Shop {
    pub id: String,
    pub domain: String,
    pub status: String,
    pub settings_saved: bool,
    pub scopes: Option<String>,
    pub access_token_enc: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_token_enc: Option<String>,
    pub refresh_token_expires_at: Option<i64>,
    pub exotel_key: String,
    pub settings: String,
    pub exotel_api_token_enc: Option<String>,
    pub exotel_status: String,
    pub installed_at: Option<i64>,
    pub uninstalled_at: Option<i64>,
    /// `rules.blocklist_phones`, sealed (customer data: kept out of `settings`).
    pub blocklist_phones_enc: Option<String>,
}

const COLUMNS: &str = "id, domain, status, settings_saved, scopes, access_token_enc, access_token_expires_at, \
    refresh_token_enc, refresh_token_expires_at, exotel_key, settings, exotel_api_token_enc, exotel_status, \
    installed_at, uninstalled_at, blocklist_phones_enc";

impl Shop {
    pub fn is_installed(&self) -> bool {
        self.status == ShopStatus::Installed && self.access_token_enc.is_some()
    }

    /// What the merchant sees: installed, partially installed (settings never saved), uninstalled.
    pub fn install_status(&self) -> &'static str {
        match (self.is_installed(), self.settings_saved) {
            (true, true) => "installed",
            (true, false) => "partially_installed",
            (false, _) => "uninstalled",
        }
    }
}

pub async fn find(db: &Db, id: &str) -> Result<Option<Shop>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM shops WHERE id = $1");
    on_db!(db, c => sqlx::query_as::<_, Shop>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(c).await)
}

pub async fn find_by_domain(db: &Db, domain: &ShopDomain) -> Result<Option<Shop>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM shops WHERE domain = $1");
    on_db!(db, c => sqlx::query_as::<_, Shop>(sqlx::AssertSqlSafe(sql)).bind(domain.as_str()).fetch_optional(c).await)
}

/// How many shops other than `domain` the database holds, and one of them (demo mode's start-up check).
pub async fn others_than(db: &Db, domain: &str) -> Result<(i64, Option<String>), sqlx::Error> {
    on_db!(db, c => sqlx::query_as("SELECT COUNT(*), MIN(domain) FROM shops WHERE domain <> $1").bind(domain).fetch_one(c).await)
}

/// Records a fresh install or a re-install: the new token replaces any old one.
pub async fn install(db: &Db, cipher: &Cipher, domain: &ShopDomain, tokens: &TokenSet, now: i64) -> Result<Shop, sqlx::Error> {
    let access = cipher.encrypt(tokens.access_token.expose_secret());
    let refresh = tokens.refresh_token.as_ref().map(|r| cipher.encrypt(r.expose_secret()));
    let exotel_key = crate::crypto::random_token(24);
    let sql = format!(
        "INSERT INTO shops (id, domain, status, scopes, access_token_enc, access_token_expires_at, refresh_token_enc, \
           refresh_token_expires_at, exotel_key, installed_at, created_at, updated_at) \
         VALUES ($1, $2, 'installed', $3, $4, $5, $6, $7, $8, $9, $9, $9) \
         ON CONFLICT (domain) DO UPDATE SET status = 'installed', scopes = excluded.scopes, \
           access_token_enc = excluded.access_token_enc, access_token_expires_at = excluded.access_token_expires_at, \
           refresh_token_enc = excluded.refresh_token_enc, refresh_token_expires_at = excluded.refresh_token_expires_at, \
           token_refresh_lease_until = NULL, installed_at = excluded.installed_at, uninstalled_at = NULL, \
           updated_at = excluded.updated_at \
         RETURNING {COLUMNS}"
    );
    on_db!(db, c => sqlx::query_as::<_, Shop>(sqlx::AssertSqlSafe(sql))
        .bind(new_id()).bind(domain.as_str()).bind(&tokens.scope).bind(access).bind(tokens.expires_at)
        .bind(refresh).bind(tokens.refresh_expires_at).bind(exotel_key).bind(now)
        .fetch_one(c).await)
}

/// Stores refreshed tokens and releases the refresh lease; the scopes they carry replace the
/// stored ones (a merchant who approved new permissions is seen at the next refresh).
pub async fn store_tokens(db: &Db, cipher: &Cipher, shop_id: &str, tokens: &TokenSet, now: i64) -> Result<(), sqlx::Error> {
    let access = cipher.encrypt(tokens.access_token.expose_secret());
    let refresh = tokens.refresh_token.as_ref().map(|r| cipher.encrypt(r.expose_secret()));
    on_db!(db, c => sqlx::query(
        "UPDATE shops SET access_token_enc = $1, access_token_expires_at = $2, \
           refresh_token_enc = COALESCE($3, refresh_token_enc), \
           refresh_token_expires_at = CASE WHEN $3 IS NULL THEN refresh_token_expires_at ELSE $4 END, \
           token_refresh_lease_until = NULL, updated_at = $5, scopes = COALESCE($7, scopes) WHERE id = $6")
        .bind(access).bind(tokens.expires_at).bind(refresh).bind(tokens.refresh_expires_at)
        .bind(now).bind(shop_id).bind(&tokens.scope)
        .execute(c).await.map(|_| ()))
}

/// Expired install states one `/auth` request removes at most: the table is swept a batch at a
/// time (through the `expires_at` index) instead of all at once on every request.
pub const OAUTH_STATE_PURGE_BATCH: i64 = 100;

/// Records the state of an install just started (its hash only), first removing at most one
/// batch of expired ones.
pub async fn save_oauth_state(db: &Db, state_hash: &str, domain: &ShopDomain, expires_at: i64, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, c => sqlx::query(
        "DELETE FROM oauth_states WHERE state_hash IN \
           (SELECT state_hash FROM oauth_states WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)")
        .bind(now).bind(OAUTH_STATE_PURGE_BATCH).execute(c).await.map(|_| ()))?;
    on_db!(db, c => sqlx::query("INSERT INTO oauth_states (state_hash, shop_domain, expires_at) VALUES ($1, $2, $3)")
        .bind(state_hash).bind(domain.as_str()).bind(expires_at).execute(c).await.map(|_| ()))
}

/// Consumes a live install state of `domain`, once: true when it was there.
pub async fn take_oauth_state(db: &Db, state_hash: &str, domain: &ShopDomain, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_db!(db, exec c => sqlx::query("DELETE FROM oauth_states WHERE state_hash = $1 AND shop_domain = $2 AND expires_at >= $3")
        .bind(state_hash).bind(domain.as_str()).bind(now))?;
    Ok(n == 1)
}

/// Stores a validated settings document: `saved` marks the settings saved (never unsaved again);
/// a new sealed API token and an Exotel status replace the old ones when given.
pub async fn save_settings(db: &Db, shop_id: &str, stored: &str, saved: bool, token_enc: Option<String>, exotel_status: Option<&str>, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, c => sqlx::query(
        "UPDATE shops SET settings = $1, settings_saved = (settings_saved OR $2), \
           exotel_api_token_enc = COALESCE($3, exotel_api_token_enc), \
           exotel_status = COALESCE($4, exotel_status), updated_at = $5 WHERE id = $6")
        .bind(stored).bind(saved).bind(token_enc).bind(exotel_status).bind(now).bind(shop_id)
        .execute(c).await.map(|_| ()))
}

/// [`save_settings`], and the sealed blocklisted phone numbers with it when `blocklist` is given
/// (`Some(None)`: none are blocklisted any more).
#[allow(clippy::too_many_arguments)]
pub async fn save_settings_and_blocklist(
    db: &Db,
    shop_id: &str,
    stored: &str,
    saved: bool,
    token_enc: Option<String>,
    exotel_status: Option<&str>,
    blocklist: Option<Option<String>>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (set_blocklist, blocklist_enc) = match blocklist {
        Some(enc) => (true, enc),
        None => (false, None),
    };
    on_db!(db, c => sqlx::query(
        "UPDATE shops SET settings = $1, settings_saved = (settings_saved OR $2), \
           exotel_api_token_enc = COALESCE($3, exotel_api_token_enc), \
           exotel_status = COALESCE($4, exotel_status), \
           blocklist_phones_enc = CASE WHEN $5 THEN $6 ELSE blocklist_phones_enc END, updated_at = $7 WHERE id = $8")
        .bind(stored).bind(saved).bind(token_enc).bind(exotel_status).bind(set_blocklist).bind(blocklist_enc).bind(now).bind(shop_id)
        .execute(c).await.map(|_| ()))
}

/// The shop's sealed blocklisted phone numbers (`rules.blocklist_phones`), inside a transaction.
pub async fn blocklist_phones_enc(tx: &mut Tx, shop_id: &str) -> Result<Option<String>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar::<_, Option<String>>("SELECT blocklist_phones_enc FROM shops WHERE id = $1")
        .bind(shop_id).fetch_optional(c).await).map(Option::flatten)
}

/// Replaces the settings document of the shop at `domain` as it is (demo mode's method switch).
pub async fn replace_settings(db: &Db, domain: &str, stored: &str) -> Result<(), sqlx::Error> {
    on_db!(db, c => sqlx::query("UPDATE shops SET settings = $1 WHERE domain = $2").bind(stored).bind(domain)
        .execute(c).await.map(|_| ()))
}

/// A new secret for the shop's Exotel URLs.
pub async fn set_exotel_key(db: &Db, shop_id: &str, key: &str, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, c => sqlx::query("UPDATE shops SET exotel_key = $1, updated_at = $2 WHERE id = $3")
        .bind(key).bind(now).bind(shop_id).execute(c).await.map(|_| ()))
}

/// The installed shop whose Exotel URLs carry `key`.
pub async fn installed_by_exotel_key(db: &Db, key: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, c => sqlx::query_scalar("SELECT id FROM shops WHERE exotel_key = $1 AND status = 'installed'")
        .bind(key).fetch_optional(c).await)
}

/// Takes the shop's token refresh lease until `until` (wall clock), if the stored token is still
/// `access_token_enc` and no live lease is held: true when taken.
pub async fn take_refresh_lease(db: &Db, shop_id: &str, access_token_enc: &str, wall: i64, until: i64) -> Result<bool, sqlx::Error> {
    let n = on_db!(db, exec c => sqlx::query(
        "UPDATE shops SET token_refresh_lease_until = $1 WHERE id = $2 AND access_token_enc = $3 \
         AND (token_refresh_lease_until IS NULL OR token_refresh_lease_until < $4)")
        .bind(until).bind(shop_id).bind(access_token_enc).bind(wall))?;
    Ok(n == 1)
}

/// Gives the token refresh lease back (the refresh failed).
pub async fn release_refresh_lease(db: &Db, shop_id: &str) -> Result<(), sqlx::Error> {
    on_db!(db, c => sqlx::query("UPDATE shops SET token_refresh_lease_until = NULL WHERE id = $1")
        .bind(shop_id).execute(c).await.map(|_| ()))
}

/// The id and install time of the shop at `domain`, inside a transaction.
pub async fn id_and_installed_at(tx: &mut Tx, domain: &str) -> Result<Option<(String, Option<i64>)>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as("SELECT id, installed_at FROM shops WHERE domain = $1").bind(domain).fetch_optional(c).await)
}

/// Marks the shop uninstalled and forgets its tokens (the first uninstall time is kept).
pub async fn mark_uninstalled(tx: &mut Tx, shop_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE shops SET status = 'uninstalled', access_token_enc = NULL, access_token_expires_at = NULL, \
         refresh_token_enc = NULL, refresh_token_expires_at = NULL, token_refresh_lease_until = NULL, \
         uninstalled_at = COALESCE(uninstalled_at, $1), updated_at = $1 WHERE id = $2")
        .bind(now).bind(shop_id).execute(c).await.map(|_| ()))
}

/// The id of the shop at `domain`, inside a transaction.
pub async fn id_by_domain(tx: &mut Tx, domain: &str) -> Result<Option<String>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1").bind(domain).fetch_optional(c).await)
}

/// The id and install status (`installed` / `uninstalled`) of the shop at `domain`, inside a transaction.
pub async fn id_and_status(tx: &mut Tx, domain: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as("SELECT id, status FROM shops WHERE domain = $1").bind(domain).fetch_optional(c).await)
}

/// Every shop's id and stored settings document, by id.
pub async fn all_settings(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as("SELECT id, settings FROM shops ORDER BY id").fetch_all(c).await)
}

/// The shop an order webhook is for, as intake needs it.
#[derive(sqlx::FromRow)]
pub struct OrderIntakeShop {
    pub id: String,
    pub status: String,
    pub settings_saved: bool,
    pub settings: String,
}

/// The shop at `domain` for an order webhook. PostgreSQL: its row is share-locked until the
/// transaction ends, so an uninstall committing meanwhile either waits for the order or is seen
/// here, while orders of one shop do not wait for each other. (SQLite transactions are serial.)
pub async fn for_order_intake(tx: &mut Tx, domain: &str) -> Result<Option<OrderIntakeShop>, sqlx::Error> {
    let sql = if tx.is_postgres() {
        "SELECT id, status, settings_saved, settings FROM shops WHERE domain = $1 FOR SHARE"
    } else {
        "SELECT id, status, settings_saved, settings FROM shops WHERE domain = $1"
    };
    on_tx!(tx, c => sqlx::query_as(sql).bind(domain).fetch_optional(c).await)
}
