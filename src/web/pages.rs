//! The embedded admin's pages (issue 7): App Info, Contact details, Settings, OTP SMS settings, IVR
//! call settings, IVR fallback settings. Each is a document load authenticated by `PageShop`.

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
