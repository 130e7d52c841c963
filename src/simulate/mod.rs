//! `codverify simulate` (SPEC §10): the product's own planner (`verification::plan::next`, over
//! plans built from settings by `runner::plan_of`/`steps_of` and the shop's `schedule::Window`) run
//! over a simulated clock and a simulated shopper population, to compare plans without real shoppers.
//!
//! Each order is walked as the plan runner walks it: ask the planner, make the contact it asks for
//! at the time it names, record how the contact ended, ask again from that moment. An answer ends
//! the order when it arrives — a message's answer may come after its step is over, or after the
//! order gave up, as in the product — and drops everything still scheduled. Pure: no IO, no wall
//! clock; all randomness comes from the seed.

mod args;
mod engine;
pub mod population;

use std::io::Write;
use std::process::ExitCode;

pub use args::{Args, parse, usage};
pub use engine::{CALL_MS, DEFAULT_PLANS, Made, OrderRun, SimPlan, Summary, base_settings, run_order, simulate};
pub use population::{Model, Shopper};

/// The command: parses `args` (after `simulate`), runs, prints. Exit code 2 on bad arguments.
pub fn main(args: &[String]) -> ExitCode {
    let parsed = match parse(args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("codverify simulate: {e}\n(codverify simulate --help lists the flags)");
            return ExitCode::from(2);
        }
    };
    let settings = base_settings();
    let summaries: Vec<Summary> = parsed
        .plans
        .iter()
        .map(|steps| simulate(&SimPlan::new(&settings, steps), &parsed.model, parsed.orders, parsed.seed))
        .collect();
    let text = if parsed.json { json_lines(&summaries) } else { table(&summaries, parsed.seed) };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// One JSON object per plan and line (SPEC §10), its keys in the documented order.
pub fn json_lines(summaries: &[Summary]) -> String {
    #[derive(serde::Serialize)]
    struct Line {
        plan: Vec<&'static str>,
        orders: u64,
        resolved_24h: f64,
        contacts_per_order: f64,
        /// `null` when no order was resolved.
        cost_per_resolved: Option<f64>,
    }
    let mut out = String::new();
    for s in summaries {
        let line = Line {
            plan: s.steps.iter().map(|s| s.as_str()).collect(),
            orders: s.orders,
            resolved_24h: round(s.resolved_24h_share(), 4),
            contacts_per_order: round(s.contacts_per_order(), 3),
            cost_per_resolved: s.cost_per_resolved().map(|c| round(c, 3)),
        };
        out.push_str(&serde_json::to_string(&line).expect("plain values serialize"));
        out.push('\n');
    }
    out
}

/// The table for people.
pub fn table(summaries: &[Summary], seed: u64) -> String {
    let orders = summaries.first().map_or(0, |s| s.orders);
    let mut out = format!("{orders} simulated orders per plan (seed {seed}); ₹ at the default or given prices\n\n");
    let header = ["plan", "resolved ≤24 h", "resolved", "median wait", "contacts/order", "₹/order", "₹/resolved"];
    let rows: Vec<[String; 7]> = summaries
        .iter()
        .map(|s| {
            let mut name = s.steps.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
            if s.derived {
                name.push_str(" *");
            }
            [
                name,
                format!("{:.1}%", 100.0 * s.resolved_24h_share()),
                format!("{:.1}%", 100.0 * s.resolved_share()),
                s.median_answer_minutes.map_or("-".into(), |m| format!("{:.0} min", m)),
                format!("{:.2}", s.contacts_per_order()),
                format!("{:.2}", s.cost_per_order()),
                s.cost_per_resolved().map_or("-".into(), |c| format!("{c:.2}")),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..7).map(width).collect();
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 {
                l.push_str(c);
                l.push_str(&" ".repeat(pad));
            } else {
                l.push_str("  ");
                l.push_str(&" ".repeat(pad));
                l.push_str(c);
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(&header.map(String::from)));
    for r in &rows {
        out.push_str(&line(r));
    }
    if summaries.iter().any(|s| s.derived) {
        out.push_str("\n* the reference app's schedule (plan derived from the IVR method and the SMS-link fallback: its SMS go at any hour)\n");
    }
    out
}

