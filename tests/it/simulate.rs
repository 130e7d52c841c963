//! `codverify simulate` through the built binary (SPEC §10): it runs without any configuration, its
//! `--json` lines have the documented shape, the same seed prints the same bytes, and bad
//! arguments exit 2 naming the problem.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs the binary with an empty environment: the simulator needs no database and no settings.
fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_codverify"))
        .arg("simulate")
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

#[test]
fn json_lines_per_plan_and_the_same_seed_gives_the_same_output() {
    let out = simulate(&["--orders", "2000", "--seed", "7", "--json"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    // The keys in the documented order.
    for l in text.lines() {
        let at = |k: &str| l.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} missing in {l}"));
        let keys = ["plan", "orders", "resolved_24h", "contacts_per_order", "cost_per_resolved"].map(at);
        assert!(keys.is_sorted() && keys[0] == 1, "{l}");
    }
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    let plans: Vec<Vec<&str>> = lines.iter().map(|l| l["plan"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()).collect();
    // The reference schedule first, then WhatsApp-first plans.
    assert_eq!(plans[0], ["ivr", "sms_link"]);
    assert!(plans.contains(&vec!["whatsapp", "ivr", "sms_link"]), "{plans:?}");
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 5, "{l}");
        assert_eq!(l["orders"], 2000);
        let resolved = l["resolved_24h"].as_f64().unwrap();
        assert!(resolved > 0.0 && resolved < 1.0, "{l}");
        let contacts = l["contacts_per_order"].as_f64().unwrap();
        assert!((1.0..=6.0).contains(&contacts), "{l}");
        assert!(l["cost_per_resolved"].as_f64().unwrap() > 0.0, "{l}");
    }
    // Byte for byte the same on a second run; another seed differs.
    assert_eq!(simulate(&["--orders", "2000", "--seed", "7", "--json"]).stdout, out.stdout);
    assert_ne!(simulate(&["--orders", "2000", "--seed", "8", "--json"]).stdout, out.stdout);
}

#[test]
fn a_chosen_plan_and_a_certain_answer() {
    // Every shopper reachable and answering the first call: one contact per order, all resolved.
    let out = simulate(&[
        "--orders", "500", "--json", "--plan", "ivr,sms_link", "--answer", "ivr=1", "--hourly",
        &format!("ivr={}", vec!["1"; 24].join(",")), "--dnd", "0", "--unreachable", "0",
    ]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["plan"], serde_json::json!(["ivr", "sms_link"]));
    assert_eq!((line["resolved_24h"].as_f64(), line["contacts_per_order"].as_f64()), (Some(1.0), Some(1.0)));
    assert_eq!(line["cost_per_resolved"].as_f64(), Some(0.6));
    // The table for people names every plan.
    let table = String::from_utf8(simulate(&["--orders", "200"]).stdout).unwrap();
    assert!(table.contains("whatsapp,ivr,sms_link") && table.contains("ivr,sms_link *"), "{table}");
}

#[test]
fn bad_arguments_exit_2_and_name_the_problem() {
    for (args, message) in [
        (&["--frobnicate"][..], "unknown flag `--frobnicate`"),
        (&["--orders", "many"], "not a whole number"),
        (&["--plan", "ivr,carrier_pigeon"], "unknown step `carrier_pigeon`"),
        (&["--plan", "ivr,sms_link,ivr"], "step `ivr` is repeated"),
        (&["--dnd", "2"], "from 0 to 1"),
    ] {
        let out = simulate(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing printed on stdout");
    }
    let help = simulate(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--not-on-whatsapp"));
}
