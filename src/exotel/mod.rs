//! Everything that talks to Exotel. The client lives in `client`; its API is re-exported here so
//! callers write `exotel::connect_call(…)`.

pub mod client;

pub use client::*;
