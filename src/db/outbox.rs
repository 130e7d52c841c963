//! The outbox rows the dialer sends (`call_attempts`, `sms_messages`, `whatsapp_messages`): written before they are sent,
//! claimed, and put back in the queue.

use crate::db::{Db, Tx};
use crate::domain::{AttemptState, SmsState, WaState};
use crate::{on_db, on_tx};

/// What the dialer sends: calls, SMS and WhatsApp messages, each a table of rows written before they are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outbox {
    Calls,
    Sms,
    Whatsapp,
}

impl Outbox {
    pub fn table(self) -> &'static str {
        match self {
            Outbox::Calls => "call_attempts",
            Outbox::Sms => "sms_messages",
            Outbox::Whatsapp => "whatsapp_messages",
        }
    }
    /// The state of a claimed row whose request is (about to be) on its way.
    pub fn sending_state(self) -> &'static str {
        match self {
            Outbox::Calls => AttemptState::Dialing.as_str(),
            Outbox::Sms => SmsState::Sending.as_str(),
            Outbox::Whatsapp => WaState::Sending.as_str(),
        }
    }
    /// The Exotel API whose budget a send takes.
    pub fn api(self) -> &'static str {
        match self {
            Outbox::Calls => "calls",
            Outbox::Sms => "sms",
            Outbox::Whatsapp => "whatsapp",
        }
    }
}

/// Puts a claimed row back in the queue after a transient failure: its failure count, when it may
/// go again (wall clock) and why. Returns the rows changed (0: no longer claimed).
#[allow(clippy::too_many_arguments)]
pub async fn back_off(tx: &mut Tx, outbox: Outbox, id: &str, failures: i64, retry_after_wall: i64, why: &str, now: i64) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET state = 'queued', transient_failures = $1, retry_after_wall = $2, error = $3, updated_at = $4 \
         WHERE id = $5 AND state = '{}'",
        outbox.table(),
        outbox.sending_state()
    );
    on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(failures).bind(retry_after_wall).bind(why).bind(now).bind(id))
}

/// Puts a claimed row that was never sent back in the queue, from `retry_after_wall` on.
pub async fn requeue(db: &Db, outbox: Outbox, id: &str, retry_after_wall: i64, now: i64) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET state = 'queued', retry_after_wall = $1, updated_at = $2 WHERE id = $3 AND state = '{}'",
        outbox.table(),
        outbox.sending_state()
    );
    on_db!(db, exec c => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(retry_after_wall).bind(now).bind(id))
}

/// Due rows (id, account) in the order they should go: shops take turns (the n-th due row of every
/// shop before the (n+1)-th of any), the shop served least recently first, then oldest first.
pub async fn due(db: &Db, outbox: Outbox, now: i64, wall: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
    let sql = format!(
        "SELECT due.id, due.account_sid FROM ( \
           SELECT id, shop_id, account_sid, due_at, ROW_NUMBER() OVER (PARTITION BY account_sid, shop_id ORDER BY due_at, id) AS turn \
           FROM {} WHERE state = 'queued' AND due_at <= $1 AND (retry_after_wall IS NULL OR retry_after_wall <= $2) \
         ) due JOIN shops s ON s.id = due.shop_id \
         ORDER BY due.turn, COALESCE(s.last_call_claimed_wall, 0), due.due_at, due.id LIMIT 1000",
        outbox.table()
    );
    on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).bind(wall).fetch_all(c).await)
}

/// Claims a queued row (its sending state): true when this claim took it.
pub async fn claim(tx: &mut Tx, outbox: Outbox, id: &str, wall: i64, now: i64) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET state = '{}', claimed_at_wall = $1, updated_at = $2 WHERE id = $3 AND state = 'queued'",
        outbox.table(),
        outbox.sending_state()
    );
    Ok(on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(wall).bind(now).bind(id))? > 0)
}

/// Whether the number of call attempt `id` was looked up already (its DND state is known).
pub async fn number_looked_up(tx: &mut Tx, attempt_id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders o JOIN call_attempts a ON a.order_id = o.id WHERE a.id = $1 AND o.dnd IS NOT NULL")
        .bind(attempt_id).fetch_one(c).await)?;
    Ok(n > 0)
}

/// Records that the row's shop was served at `wall` (shops take turns by it).
pub async fn shop_served(tx: &mut Tx, outbox: Outbox, id: &str, wall: i64) -> Result<(), sqlx::Error> {
    let sql = format!("UPDATE shops SET last_call_claimed_wall = $1 WHERE id = (SELECT shop_id FROM {} WHERE id = $2)", outbox.table());
    on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(wall).bind(id)).map(|_| ())
}

/// Cancels the queued SMS of an order (or, with no order, of the whole shop), but not the
/// confirmations after a missed call: those answer the customer. Returns the rows changed.
pub async fn cancel_queued_sms(tx: &mut Tx, shop_id: &str, order_id: Option<&str>, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE sms_messages SET state = 'cancelled', updated_at = $1 \
         WHERE shop_id = $2 AND ($3 IS NULL OR order_id = $3) AND state = 'queued' AND kind <> 'confirmation'")
        .bind(now).bind(shop_id).bind(order_id))
}

/// Cancels the queued WhatsApp messages of an order (or, with no order, of the whole shop).
/// Returns the rows changed.
pub async fn cancel_queued_whatsapp(tx: &mut Tx, shop_id: &str, order_id: Option<&str>, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE whatsapp_messages SET state = 'cancelled', updated_at = $1 \
         WHERE shop_id = $2 AND ($3 IS NULL OR order_id = $3) AND state = 'queued'")
        .bind(now).bind(shop_id).bind(order_id))
}
