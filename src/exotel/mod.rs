//! Everything that talks to Exotel: the shared plumbing and errors in `client`, calls in `voice`,
//! SMS in `sms`, all re-exported here so callers write `exotel::connect_call(…)`; WhatsApp in
//! `whatsapp`, used as `exotel::whatsapp::send_template(…)`.

mod answer;
pub mod client;
mod error;
pub mod sms;
pub mod voice;
pub mod whatsapp;

pub use client::*;
pub use sms::*;
pub use voice::*;
