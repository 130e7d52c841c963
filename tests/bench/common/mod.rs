//! What the benchmarks share (`mod common;` in `webhooks.rs`, `ivr.rs` and `reports.rs`): their
//! command line and settings, the fresh database of a run, the release binary as a child process,
//! the load generator (closed and open loop over a minimal HTTP/1.1 client), signed webhook
//! requests, and the measurements (failures, percentiles, CPU and memory from `/proc`). Each bench
//! file keeps only its own phases and report.

// Each bench uses a part of this.
#![allow(dead_code, unused_imports)]

mod db;
mod http;
mod load;
mod measure;
mod server;
mod setup;
mod webhook;

pub(crate) use db::*;
pub(crate) use http::*;
pub(crate) use load::*;
pub(crate) use measure::*;
pub(crate) use server::*;
pub(crate) use setup::*;
pub(crate) use webhook::*;
