//! Keeps the Outcomes page's per-day summaries ready ahead of the page (issue 18). Every 10
//! minutes on the app clock (a row in `schedules`, so one process runs it), each shop's last 92
//! days — the longest range the page shows — are brought up to date: the days written since they
//! were summarised, and any never summarised. A page load then finds its days summarised unless
//! they changed in the last few minutes (see `db::outcome_days` for how a day is kept fresh).

use chrono::DateTime;

use crate::app::App;
use crate::db::{outcome_days, shops};
use crate::outcomes::MAX_RANGE_DAYS;
use crate::reports::shop_tz;
use crate::settings::{Settings, Verify};

/// One run over every shop.
pub async fn refresh(app: &App) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    for (shop_id, stored) in shops::all_settings(&app.db).await? {
        let settings = Settings::from_stored(&stored);
        let tz = shop_tz(&settings);
        let Some(today) = DateTime::from_timestamp_millis(now).map(|t| t.with_timezone(&tz).date_naive()) else { continue };
        let from = today - chrono::Days::new(MAX_RANGE_DAYS as u64 - 1);
        let computed = outcome_days::refresh(&app.db, &shop_id, tz, settings.general.verify == Verify::Cod, from, today).await?;
        if computed > 0 {
            tracing::debug!(shop_id, computed, "Outcomes page days summarised");
        }
    }
    Ok(())
}
