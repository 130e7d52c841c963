//! The command line of `codverify simulate`: a small parser (the crate has no argument-parsing
//! dependency) that refuses anything it does not understand, naming it.

use super::DEFAULT_PLANS;
use super::population::{Hours, Model, slot};
use crate::settings::Step;

/// What the command was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub orders: u64,
    pub seed: u64,
    pub plans: Vec<Vec<Step>>,
    pub json: bool,
    pub model: Model,
}

pub const DEFAULT_ORDERS: u64 = 100_000;
pub const DEFAULT_SEED: u64 = 1;
const MAX_ORDERS: u64 = 10_000_000;

/// The help text, with the defaults as the model has them.
pub fn usage() -> String {
    let m = Model::default();
    let per = |v: &[f64; 4]| Step::ALL.iter().map(|s| format!("{s}={}", v[slot(*s)])).collect::<Vec<_>>().join(" ");
    let hours = |h: &Hours| h.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    format!(
        "codverify simulate: the product's planner over simulated shoppers; per plan, the share of orders answered
within 24 h, contacts per order and cost per answered order.

usage: codverify simulate [--orders N] [--seed S] [--plan STEP,STEP…]… [--json] [population flags]

  --orders N                 orders per plan (default {DEFAULT_ORDERS}; at most {MAX_ORDERS})
  --seed S                   the random seed; the same seed gives the same output (default {DEFAULT_SEED})
  --plan STEP,STEP…          a plan to run, repeatable; steps: {steps}
                             (default: {plans})
  --json                     one JSON object per plan and line
population (CHANNEL is one of the steps):
  --answer CHANNEL=P         chance that one contact at the channel's best hour is answered by a reachable
                             shopper (default {answer})
  --hourly CHANNEL=M0,…,M23  the chance's multiplier for the hour (shop's time zone) the contact is made in
                             (default ivr={ivr_hours}; messages {msg_hours})
  --reply-minutes CHANNEL=M  mean minutes from a message to its answer, exponential; calls are answered while
                             they ring (default {reply})
  --price CHANNEL=RUPEES     ₹ per placed call (answered or not), per SMS, per delivered WhatsApp message
                             (default {price})
  --dnd P                    share of numbers on the DND registry (no calls) (default {dnd})
  --not-on-whatsapp P        share of numbers without WhatsApp (default {nowa})
  --unreachable P            share of shoppers who answer no channel at all (default {unreachable})
  --arrivals W0,…,W23        relative weight of the orders placed in each hour (shop's time zone)
                             (default {arrivals})
",
        steps = Step::NAMES.join(", "),
        plans = DEFAULT_PLANS.iter().map(|p| p.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join("; "),
        answer = per(&m.answer),
        ivr_hours = hours(&m.hourly[slot(Step::Ivr)]),
        msg_hours = hours(&m.hourly[slot(Step::Whatsapp)]),
        reply = Step::ALL.iter().filter(|s| **s != Step::Ivr).map(|s| format!("{s}={}", m.reply_minutes[slot(*s)])).collect::<Vec<_>>().join(" "),
        price = per(&m.price),
        dnd = m.dnd,
        nowa = m.not_on_whatsapp,
        unreachable = m.unreachable,
        arrivals = hours(&m.arrivals),
    )
}

/// Parses the arguments after `simulate`. `Ok(None)`: help was asked for.
pub fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut a = Args {
        orders: DEFAULT_ORDERS,
        seed: DEFAULT_SEED,
        plans: Vec::new(),
        json: false,
        model: Model::default(),
    };
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        // `--flag value` or `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg, None),
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--json" => {
                if inline.is_some() {
                    return Err("--json takes no value".into());
                }
                a.json = true;
                continue;
            }
            _ => {}
        }
        if !flag.starts_with('-') {
            return Err(format!("unexpected argument `{arg}`"));
        }
        let known = [
            "--orders", "--seed", "--plan", "--answer", "--hourly", "--reply-minutes", "--price", "--dnd",
            "--not-on-whatsapp", "--unreachable", "--arrivals",
        ];
        if !known.contains(&flag) {
            return Err(format!("unknown flag `{flag}`"));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = args.get(i).ok_or_else(|| format!("{flag} needs a value"))?;
                i += 1;
                v.clone()
            }
        };
        let v = value.as_str();
        match flag {
            "--orders" => {
                a.orders = v.parse().map_err(|_| format!("--orders: `{v}` is not a whole number"))?;
                if !(1..=MAX_ORDERS).contains(&a.orders) {
                    return Err(format!("--orders: must be 1 to {MAX_ORDERS}, got {v}"));
                }
            }
            "--seed" => a.seed = v.parse().map_err(|_| format!("--seed: `{v}` is not a whole number from 0 to {}", u64::MAX))?,
            "--plan" => a.plans.push(plan(v)?),
            "--dnd" => a.model.dnd = share(flag, v)?,
            "--not-on-whatsapp" => a.model.not_on_whatsapp = share(flag, v)?,
            "--unreachable" => a.model.unreachable = share(flag, v)?,
            "--arrivals" => {
                a.model.arrivals = hours(flag, v)?;
                if a.model.arrivals.iter().sum::<f64>() <= 0.0 {
                    return Err("--arrivals: at least one hour needs a weight above 0".into());
                }
            }
            _ => {
                let (step, rest) = channel(flag, v)?;
                let s = slot(step);
                match flag {
                    "--answer" => a.model.answer[s] = share(flag, rest)?,
                    "--hourly" => a.model.hourly[s] = hours(flag, rest)?,
                    "--price" => a.model.price[s] = non_negative(flag, rest)?,
                    _ => {
                        if step == Step::Ivr {
                            return Err("--reply-minutes: a call is answered while it rings; give a message channel".into());
                        }
                        a.model.reply_minutes[s] = non_negative(flag, rest)?;
                    }
                }
            }
        }
    }
    if a.plans.is_empty() {
        a.plans = DEFAULT_PLANS.iter().map(|p| p.to_vec()).collect();
    }
    Ok(Some(a))
}

/// `whatsapp,ivr,sms_link`: known steps, each once.
fn plan(v: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for name in v.split(',').map(str::trim) {
        let step = Step::parse(name).ok_or_else(|| format!("--plan: unknown step `{name}` (steps: {})", Step::NAMES.join(", ")))?;
        if steps.contains(&step) {
            return Err(format!("--plan: step `{name}` is repeated in `{v}`"));
        }
        steps.push(step);
    }
    Ok(steps)
}

/// `CHANNEL=rest`.
fn channel<'a>(flag: &str, v: &'a str) -> Result<(Step, &'a str), String> {
    let (name, rest) = v.split_once('=').ok_or_else(|| format!("{flag}: expected CHANNEL=VALUE, got `{v}`"))?;
    let step = Step::parse(name.trim()).ok_or_else(|| format!("{flag}: unknown channel `{name}` (channels: {})", Step::NAMES.join(", ")))?;
    Ok((step, rest))
}

fn number(flag: &str, v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("{flag}: `{v}` is not a number")),
    }
}

fn non_negative(flag: &str, v: &str) -> Result<f64, String> {
    let x = number(flag, v)?;
    if x < 0.0 {
        return Err(format!("{flag}: must not be negative, got {v}"));
    }
    Ok(x)
}

fn share(flag: &str, v: &str) -> Result<f64, String> {
    let x = number(flag, v)?;
    if !(0.0..=1.0).contains(&x) {
        return Err(format!("{flag}: must be from 0 to 1, got {v}"));
    }
    Ok(x)
}

fn hours(flag: &str, v: &str) -> Result<Hours, String> {
    let values = v.split(',').map(|x| non_negative(flag, x)).collect::<Result<Vec<_>, _>>()?;
    values.try_into().map_err(|got: Vec<f64>| format!("{flag}: needs 24 values (hours 0 to 23), got {}", got.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Option<Args>, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }
    fn err(args: &[&str]) -> String {
        p(args).expect_err("refused")
    }

    #[test]
    fn defaults_and_flags() {
        let a = p(&[]).unwrap().unwrap();
        assert_eq!((a.orders, a.seed, a.json), (DEFAULT_ORDERS, DEFAULT_SEED, false));
        assert_eq!(a.plans.len(), DEFAULT_PLANS.len());
        assert_eq!(a.model, Model::default());
        let hours24 = vec!["1"; 24].join(",");
        let a = p(&[
            "--orders", "50", "--seed=9", "--plan", "whatsapp,ivr", "--plan=sms_missed_call", "--json", "--answer", "ivr=0.5",
            "--hourly", &format!("whatsapp={hours24}"), "--reply-minutes", "sms_link=10", "--price", "whatsapp=0.2", "--dnd", "0",
            "--not-on-whatsapp", "1", "--unreachable=0.3", "--arrivals", &hours24,
        ])
        .unwrap()
        .unwrap();
        assert_eq!((a.orders, a.seed, a.json), (50, 9, true));
        assert_eq!(a.plans, vec![vec![Step::Whatsapp, Step::Ivr], vec![Step::SmsMissedCall]]);
        let m = &a.model;
        assert_eq!(m.answer[slot(Step::Ivr)], 0.5);
        assert_eq!(m.hourly[slot(Step::Whatsapp)], [1.0; 24]);
        assert_eq!(m.hourly[slot(Step::Ivr)], Model::default().hourly[slot(Step::Ivr)]);
        assert_eq!(m.reply_minutes[slot(Step::SmsLink)], 10.0);
        assert_eq!(m.price[slot(Step::Whatsapp)], 0.2);
        assert_eq!((m.dnd, m.not_on_whatsapp, m.unreachable), (0.0, 1.0, 0.3));
        assert_eq!(m.arrivals, [1.0; 24]);
        assert_eq!(p(&["--orders", "5", "-h"]).unwrap(), None);
    }

    #[test]
    fn bad_input_is_named() {
        assert!(err(&["--order", "5"]).contains("unknown flag `--order`"));
        assert!(err(&["5"]).contains("unexpected argument `5`"));
        assert!(err(&["--orders"]).contains("--orders needs a value"));
        assert!(err(&["--orders", "ten"]).contains("not a whole number"));
        assert!(err(&["--orders", "0"]).contains("must be 1 to"));
        assert!(err(&["--seed", "-1"]).contains("--seed"));
        assert!(err(&["--plan", "ivr,fax"]).contains("unknown step `fax`"));
        assert!(err(&["--plan", "ivr,sms_link,ivr"]).contains("step `ivr` is repeated"));
        assert!(err(&["--plan", ""]).contains("unknown step ``"));
        assert!(err(&["--dnd", "1.5"]).contains("from 0 to 1"));
        assert!(err(&["--dnd", "NaN"]).contains("not a number"));
        assert!(err(&["--answer", "0.5"]).contains("CHANNEL=VALUE"));
        assert!(err(&["--answer", "fax=0.5"]).contains("unknown channel `fax`"));
        assert!(err(&["--price", "ivr=-1"]).contains("must not be negative"));
        assert!(err(&["--hourly", "ivr=1,2"]).contains("needs 24 values"));
        assert!(err(&["--reply-minutes", "ivr=3"]).contains("answered while it rings"));
        assert!(err(&["--arrivals", &vec!["0"; 24].join(",")]).contains("above 0"));
        assert!(err(&["--json=yes"]).contains("takes no value"));
    }

    #[test]
    fn the_help_shows_the_models_defaults() {
        let u = usage();
        assert!(u.contains("--dnd P") && u.contains("(default 0.2)"), "{u}");
        assert!(u.contains("whatsapp=0.115") && u.contains("ivr=0.35"));
        assert!(u.contains("ivr,sms_link; whatsapp,ivr,sms_link"));
    }
}
