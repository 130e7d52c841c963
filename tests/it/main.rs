//! Black-box tests: the real app on port 0, fake Shopify over HTTP, on SQLite and PostgreSQL.

mod common;
mod answers;
mod demo;
mod exact;
mod fallback;
mod hostile;

mod admin_client;
mod browser;
mod client_limits;
mod install;
mod intake;
mod isolation;
mod ivr;
mod ops;
mod otp;
mod outcomes;
mod outages;
mod reports;
mod review;
mod review_browser;
mod secrets;
mod reports_browser;
mod pages;
mod plans;
mod pages_browser;
mod privacy;
mod session;
mod startup;
mod settings_api;
mod simulate;
mod webhooks;
mod whatsapp;
mod whatsapp_client;
