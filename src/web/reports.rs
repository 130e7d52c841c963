//! History reports (Call, SMS, Missed call, Order) with filters, pagination and CSV, and each
//! order's timeline (issue 7).

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
