//! Order intake: which orders are verified, and at which phone number. `decide` is the pure rule;
//! `take_order` stores the order and enqueues its verification in the same transaction.

use serde::Deserialize;
use serde_json::Value;

use crate::db::events::add_event;
use crate::db::orders::{self, NewOrder};
use crate::db::shops::{self, OrderIntakeShop};
use crate::db::{Tx, new_id};
use crate::domain::{self, OrderStatus, Phone, ShopStatus};
use crate::db::queue::Job;
use crate::settings::{Amount, Method, Rules, Settings, Verify};
use super::targeting::{self, Rule, Verdict};
use crate::crypto::Cipher;
use crate::pincode::State;
use crate::app::App;

/// An address of the order (REST shape). The shipping address is kept, sealed, with the order
/// (`super::address`): the link page and WhatsApp show it and the shopper may correct it.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_text", skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, deserialize_with = "lenient_text", skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(default, deserialize_with = "lenient_text", skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(default, deserialize_with = "lenient_text", skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "lenient_text", skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    #[serde(default, deserialize_with = "lenient_text", skip_serializing_if = "Option::is_none")]
    pub province_code: Option<String>,
    /// The PIN code (India) or postal code: the targeting rules' `blocklist_pincodes`.
    #[serde(default, deserialize_with = "lenient_text", skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, deserialize_with = "lenient_text", skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// A string or number as text, anything else as nothing: an odd address field never loses the order.
fn lenient_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct Customer {
    pub id: Option<i64>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct LineItem {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub quantity: Option<i64>,
}

/// The parts of Shopify's order webhook payload (REST shape) that verification needs.
#[derive(Debug, Deserialize)]
pub struct OrderPayload {
    pub id: i64,
    #[serde(default)]
    pub admin_graphql_api_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub order_number: Option<i64>,
    #[serde(default)]
    pub total_price: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub payment_gateway_names: Vec<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub shipping_address: Option<Address>,
    #[serde(default)]
    pub billing_address: Option<Address>,
    #[serde(default)]
    pub customer: Option<Customer>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub cancelled_at: Option<String>,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// Shopify's `customer_locale` (`en`, `hi-IN`); any JSON, so an odd value never loses the order.
    #[serde(default)]
    pub customer_locale: Option<Value>,
}

impl OrderPayload {
    /// Phone candidates in the order the spec prefers them.
    fn phones(&self) -> Vec<(&'static str, &str)> {
        [
            ("shipping_address", self.shipping_address.as_ref().and_then(|a| a.phone.as_deref())),
            ("billing_address", self.billing_address.as_ref().and_then(|a| a.phone.as_deref())),
            ("customer", self.customer.as_ref().and_then(|c| c.phone.as_deref())),
            ("order", self.phone.as_deref()),
        ]
        .into_iter()
        .filter_map(|(src, p)| p.map(str::trim).filter(|p| !p.is_empty()).map(|p| (src, p)))
        .collect()
    }

    /// The shopper's locale, when it looks like a language tag.
    pub fn customer_locale(&self) -> Option<String> {
        self.customer_locale.as_ref().and_then(Value::as_str).and_then(domain::customer_locale)
    }

    pub fn customer_name(&self) -> Option<String> {
        let from = |f: &Option<String>, l: &Option<String>| {
            let n = format!("{} {}", f.as_deref().unwrap_or(""), l.as_deref().unwrap_or(""))
                .trim()
                .to_string();
            (!n.is_empty()).then_some(n)
        };
        self.shipping_address
            .as_ref()
            .and_then(|a| from(&a.first_name, &a.last_name))
            .or_else(|| self.billing_address.as_ref().and_then(|a| from(&a.first_name, &a.last_name)))
            .or_else(|| self.customer.as_ref().and_then(|c| from(&c.first_name, &c.last_name)))
    }
}

#[derive(Debug, PartialEq)]
pub struct Decision {
    pub is_cod: bool,
    pub phone: Option<(Phone, &'static str)>,
    /// `pending` or `skipped`.
    pub status: OrderStatus,
    pub reason: Option<String>,
    /// Whether the customer's details are stored with the order. A prepaid order of a shop that
    /// verifies COD only is none of the app's business: it is recorded with what the reports
    /// count (number, amount, gateway, status, times) and nothing about the customer.
    pub keeps_customer: bool,
}

/// Decides whether an incoming order is to be verified, and where to reach the shopper.
pub fn decide(settings: &Settings, settings_saved: bool, order: &OrderPayload) -> Decision {
    let is_cod = settings.is_cod(&order.payment_gateway_names);
    let mut invalid = Vec::new();
    let mut phone = None;
    for (source, raw) in order.phones() {
        match Phone::parse(raw, &settings.general.default_country) {
            Ok(p) => {
                phone = Some((p, source));
                break;
            }
            Err(_) => invalid.push(source),
        }
    }
    let skip = |reason: String| Decision {
        is_cod,
        phone: None,
        status: OrderStatus::Skipped,
        reason: Some(reason),
        keeps_customer: true,
    };
    let skipped = if !settings_saved {
        Some("codverify was not set up yet (settings not saved)".to_string())
    } else if settings.general.method == Method::Ivr && !settings.ivr.is_ready() {
        Some("the IVR call settings are not saved yet (ExoPhone and flow id)".to_string())
    } else if settings.general.method == Method::Otp && !settings.otp.is_ready() {
        Some("the OTP SMS settings are not saved yet (sender id and template)".to_string())
    } else if settings.general.method == Method::Whatsapp && !settings.whatsapp.is_ready() {
        Some("the WhatsApp settings are not saved yet (sender and template)".to_string())
    } else if order.cancelled_at.is_some() {
        Some("the order was already cancelled".to_string())
    } else if not_verified_prepaid(settings, is_cod) {
        Some(format!(
            "not a COD order (paid with {})",
            display_gateways(&order.payment_gateway_names)))
    } else if phone.is_none() && invalid.is_empty() {
        Some("the order has no phone number".to_string())
    } else if phone.is_none() {
        Some(format!("no usable phone number (invalid in {})", invalid.join(", ")))
    } else {
        None
    };
    match skipped {
        Some(reason) if not_verified_prepaid(settings, is_cod) => Decision { keeps_customer: false, ..skip(reason) },
        Some(reason) => Decision { phone, ..skip(reason) },
        None => Decision {
            is_cod,
            phone,
            status: OrderStatus::Pending,
            reason: None,
            keeps_customer: true,
        },
    }
}

/// A prepaid order of a shop that verifies cash-on-delivery orders only.
fn not_verified_prepaid(settings: &Settings, is_cod: bool) -> bool {
    settings.general.verify == Verify::Cod && !is_cod
}

fn display_gateways(g: &[String]) -> String {
    if g.is_empty() { "no gateway".into() } else { g.join(", ") }
}

/// The order in a webhook body and the shop it belongs to, or why the delivery is ignored.
async fn order_and_shop(tx: &mut Tx, shop_domain: &str, body: &Value) -> anyhow::Result<Result<(OrderPayload, OrderIntakeShop), String>> {
    let order: OrderPayload = match serde_json::from_value(body.clone()) {
        Ok(o) => o,
        Err(e) => return Ok(Err(format!("ignored: not an order payload ({e})"))),
    };
    // The shop row is held (PostgreSQL), so an `app/uninstalled` committing meanwhile either waits
    // for this order (and then drops its first call) or is seen here.
    let shop = shops::for_order_intake(tx, shop_domain).await?;
    Ok(shop.map(|s| (order, s)).ok_or_else(|| "ignored: unknown shop".to_string()))
}

/// Stores a new order (once, whatever the number of deliveries) and enqueues its verification.
pub async fn take_order(app: &App, tx: &mut Tx, shop_domain: &str, body: &Value) -> anyhow::Result<String> {
    let (order, shop) = match order_and_shop(tx, shop_domain, body).await? {
        Ok(found) => found,
        Err(ignored) => return Ok(ignored),
    };
    let OrderIntakeShop { id: shop_id, status, settings_saved: saved, settings } = shop;
    if status != ShopStatus::Installed {
        return Ok("ignored: the shop has uninstalled the app".into());
    }
    let mut settings = Settings::from_stored(&settings);
    let mut d = decide(&settings, saved, &order);
    let now = app.clock.now_ms();
    let order_id = new_id();
    let verdict = apply_rules(app, tx, &shop_id, &mut settings, &order, &mut d).await?;
    let inserted = insert_order(&app.cipher, tx, &order_id, &shop_id, &order, &d, now).await?;
    if !inserted {
        return Ok("duplicate: the order was already taken".into());
    }
    let detail = match &d.reason {
        Some(r) if d.status == OrderStatus::Cancelled => format!("cancelled: {r}"),
        Some(r) => format!("skipped: {r}"),
        None => format!(
            "to be verified at {} (from {})",
            d.phone.as_ref().map(|(p, _)| p.masked()).unwrap_or_default(),
            d.phone.as_ref().map(|(_, s)| *s).unwrap_or("")
        ),
    };
    add_event(tx, &shop_id, &order_id, "order_received", &detail, now).await?;
    if let Some(verdict) = &verdict {
        rule_applied(tx, &shop_id, &order_id, &settings.rules, verdict, now).await?;
    }
    if d.status == OrderStatus::Pending {
        // In the order's own transaction: no job hop between an order and its first call.
        super::begin(app, tx, &shop_id, &order_id, &settings).await?;
        super::hold::on_intake(app, tx, &shop_id, &order_id, &settings).await?;
    }
    Ok(format!("order {} {}", order.name.as_deref().unwrap_or("?"), d.status))
}

/// The targeting rules (SPEC §9) for an order `decide` found to verify: a skip or a cancellation
/// changes the decision before the order is stored (so nothing is begun for it). Returns the
/// verdict when a rule fired.
async fn apply_rules(app: &App, tx: &mut Tx, shop_id: &str, settings: &mut Settings, order: &OrderPayload, d: &mut Decision) -> anyhow::Result<Option<Verdict>> {
    if d.status != OrderStatus::Pending {
        return Ok(None);
    }
    let rules = &mut settings.rules;
    let sealed = shops::blocklist_phones_enc(tx, shop_id).await?;
    if rules.open_phones(&app.cipher, sealed.as_deref()).is_err() {
        // Verified as usual: an unreadable list (a changed APP_ENCRYPTION_KEY) must not lose the order.
        tracing::error!(shop_id, "the blocklisted phone numbers could not be decrypted; the phone blocklist is not applied");
    }
    let phone = d.phone.as_ref().map(|(p, _)| p.e164());
    let confirmed_before = match phone {
        Some(p) if rules.trusted_after_confirmed > 0 => orders::confirmed_by_phone(tx, shop_id, &app.cipher.phone_index(p)).await?,
        _ => 0,
    };
    let facts = targeting::Order {
        amount: order.total_price.as_deref().and_then(Amount::parse),
        phone,
        pincode: order.shipping_address.as_ref().and_then(|a| a.zip.as_deref()),
        confirmed_before,
    };
    let verdict = targeting::judge(rules, &facts);
    let rule = match &verdict {
        Verdict::Verify => return Ok(None),
        Verdict::Flag(_) => return Ok(Some(verdict)),
        Verdict::Skip(rule) => {
            d.status = OrderStatus::Skipped;
            rule
        }
        Verdict::Cancel(rule) => {
            d.status = OrderStatus::Cancelled;
            rule
        }
    };
    d.reason = Some(rule.reason());
    Ok(Some(verdict))
}

/// The timeline says which rule fired and why, and the rule's tag (and the cancellation) is queued
/// for Shopify, in the order's own transaction.
async fn rule_applied(tx: &mut Tx, shop_id: &str, order_id: &str, rules: &Rules, verdict: &Verdict, now: i64) -> anyhow::Result<()> {
    let (tag, cancel, outcome, rule) = match verdict {
        Verdict::Verify => return Ok(()),
        Verdict::Skip(rule @ Rule::Trusted { .. }) => (rules.trusted_tag.as_str(), false, "not verified", rule),
        Verdict::Skip(rule) => ("", false, "not verified", rule),
        Verdict::Flag(rule) => (rules.blocked_tag.as_str(), false, "tagged and verified as usual", rule),
        Verdict::Cancel(rule) => (rules.blocked_tag.as_str(), true, "tagged and cancelled in Shopify; the shopper is not contacted", rule),
    };
    let detail = format!("rule {}: {}; {outcome}", rule.field(), rule.reason());
    add_event(tx, shop_id, order_id, "rule_applied", &detail, now).await?;
    let tags: Vec<String> = (!tag.is_empty()).then(|| tag.to_string()).into_iter().collect();
    if !matches!(verdict, Verdict::Flag(_)) && !tags.is_empty() {
        // The order was settled at intake: its outcome tags are these.
        orders::set_outcome_tags(tx, shop_id, order_id, &tags.join(",")).await?;
    }
    if !tags.is_empty() || cancel {
        tx.push_jobs(&[Job::SyncOrder { order_id: order_id.to_string(), tags, cancel, failures: 0 }]).await?;
    }
    Ok(())
}

async fn insert_order(cipher: &Cipher, tx: &mut Tx, id: &str, shop_id: &str, o: &OrderPayload, d: &Decision, now: i64) -> anyhow::Result<bool> {
    let gid = o
        .admin_graphql_api_id
        .clone()
        .unwrap_or_else(|| format!("gid://shopify/Order/{}", o.id));
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| o.order_number.map(|n| format!("#{n}")).unwrap_or_else(|| o.id.to_string()));
    let keep = d.keeps_customer;
    let email = o.email.clone().or_else(|| o.customer.as_ref().and_then(|c| c.email.clone())).filter(|_| keep);
    let phone = d.phone.as_ref().filter(|_| keep);
    let items = if keep { Some(serde_json::to_string(&o.line_items)?) } else { None };
    let new = NewOrder {
        id,
        shop_id,
        shopify_order_id: o.id,
        admin_graphql_id: gid,
        name,
        order_number: o.order_number,
        total_price: o.total_price.clone().unwrap_or_else(|| "0.00".into()),
        currency: o.currency.clone().unwrap_or_else(|| "INR".into()),
        gateways: serde_json::to_string(&o.payment_gateway_names)?,
        is_cod: d.is_cod,
        customer_id: o.customer.as_ref().and_then(|c| c.id).filter(|_| keep),
        customer_name: o.customer_name().filter(|_| keep),
        customer_email: email,
        phone_enc: phone.map(|(p, _)| cipher.encrypt(p.e164())),
        phone_hash: phone.map(|(p, _)| cipher.phone_index(p.e164())),
        phone_source: phone.map(|(_, s)| *s),
        status: d.status,
        status_reason: d.reason.as_deref(),
        order_created_at: o.created_at.as_deref(),
        // An order that is not verified is settled as it comes in.
        resolved_at: (d.status != OrderStatus::Pending).then_some(now),
        items,
        customer_locale: o.customer_locale().filter(|_| keep),
        shipping_address_enc: o.shipping_address.as_ref().filter(|_| keep).and_then(|a| super::address::seal(cipher, a)),
        // With the address it comes from: an order that keeps no customer details keeps no state.
        ship_state: o.shipping_address.as_ref().filter(|_| keep).and_then(super::address::ship_state).map(State::code),
    };
    Ok(orders::insert_new(tx, new, now).await?)
}

/// `orders/cancelled`: a cancelled order is never called or messaged again. If the cancellation
/// arrives before the order itself, the order is recorded as cancelled so a late `orders/create`
/// starts nothing.
/// Runs in the webhook writer's transaction, before the delivery's 200 (SPEC §11).
pub async fn order_cancelled(cipher: &Cipher, tx: &mut Tx, shop_domain: &str, body: &Value, now: i64) -> anyhow::Result<String> {
    let (order, shop) = match order_and_shop(tx, shop_domain, body).await? {
        Ok(found) => found,
        Err(ignored) => return Ok(ignored),
    };
    let OrderIntakeShop { id: shop_id, settings_saved: saved, settings, .. } = shop;
    let reason = "cancelled in Shopify";
    // Twice at most: an `orders/create` committing meanwhile makes the placeholder insert a no-op,
    // and then the order it took is there to cancel.
    for _ in 0..2 {
        match orders::id_and_status_by_shopify_id(tx, &shop_id, order.id).await? {
            // A pending order stops; one that ended `no_response` takes no late answer any more;
            // one waiting for a callback leaves the review queue.
            Some((order_id, status)) if super::takes_answer(&status) || status == OrderStatus::CallbackRequested => {
                if !orders::cancel_open(tx, &shop_id, &order_id, reason, now).await? {
                    // Resolved by a key press committing meanwhile: note the cancellation below.
                    continue;
                }
                let stopped = super::stop_pending(tx, &shop_id, Some(&order_id), now).await?;
                let detail = if status == OrderStatus::Pending {
                    "cancelled in Shopify; verification stopped"
                } else if status == OrderStatus::CallbackRequested {
                    "cancelled in Shopify; no callback is needed any more"
                } else {
                    "cancelled in Shopify; a late answer is no longer taken"
                };
                add_event(tx, &shop_id, &order_id, "order_cancelled", detail, now).await?;
                return Ok(format!("verification stopped ({stopped} scheduled calls and jobs dropped)"));
            }
            Some((order_id, _)) => {
                // A confirmed order stays confirmed; the shipping side records the cancellation
                // (which also stops it making its buyer a trusted one).
                add_event(tx, &shop_id, &order_id, "order_cancelled", "cancelled in Shopify", now).await?;
                return Ok("order already resolved; cancellation noted".into());
            }
            None => {
                let settings = Settings::from_stored(&settings);
                let mut d = decide(&settings, saved, &order);
                d.status = OrderStatus::Cancelled;
                d.reason = Some(reason.into());
                let order_id = new_id();
                if insert_order(cipher, tx, &order_id, &shop_id, &order, &d, now).await? {
                        add_event(tx, &shop_id, &order_id, "order_cancelled", "cancelled in Shopify before it was taken", now).await?;
                    return Ok("cancelled before it was taken; recorded so it is never verified".into());
                }
            }
        }
    }
    anyhow::bail!("the order changed twice while its cancellation was being recorded")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(v: Value) -> OrderPayload {
        let mut base = json!({"id": 1, "name": "#1001", "payment_gateway_names": ["Cash on Delivery (COD)"]});
        for (k, val) in v.as_object().unwrap() {
            base[k] = val.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn settings(verify: &str) -> Settings {
        let mut s = Settings::default();
        s.general.verify = Verify::parse(verify).unwrap();
        s.ivr.exophone = "08047112345".into();
        s.ivr.flow_id = "123456".into();
        s
    }

    #[test]
    fn phone_sources_in_order() {
        let s = settings("cod");
        let all = order(
            json!({"shipping_address": {"phone": "9876543210"}, "billing_address": {"phone": "9876543211"},
            "customer": {"phone": "9876543212"}, "phone": "9876543213"}),
        );
        assert_eq!(
            decide(&s, true, &all).phone.unwrap(),
            (Phone::parse("+919876543210", "IN").unwrap(), "shipping_address")
        );
        let billing = order(json!({"shipping_address": {"phone": ""}, "billing_address": {"phone": "09876543211"}, "phone": "9876543213"}));
        assert_eq!(decide(&s, true, &billing).phone.unwrap().1, "billing_address");
        let customer = order(json!({"customer": {"phone": "+91 98765 43212"}, "phone": "9876543213"}));
        assert_eq!(decide(&s, true, &customer).phone.unwrap().1, "customer");
        let top = order(json!({"phone": "9876543213"}));
        assert_eq!(decide(&s, true, &top).phone.unwrap().1, "order");
        let bad_then_good = order(json!({"shipping_address": {"phone": "123"}, "phone": "9876543213"}));
        assert_eq!(decide(&s, true, &bad_then_good).phone.unwrap().1, "order");
    }

    #[test]
    fn cod_and_verify_modes() {
        let prepaid = order(json!({"payment_gateway_names": ["shopify_payments"], "phone": "9876543210"}));
        let cod = order(json!({"phone": "9876543210"}));
        assert_eq!(decide(&settings("cod"), true, &cod).status, OrderStatus::Pending);
        let d = decide(&settings("cod"), true, &prepaid);
        assert_eq!((d.status, d.keeps_customer, d.phone.is_none()), (OrderStatus::Skipped, false, true));
        assert!(d.reason.unwrap().contains("not a COD order"));
        let all = decide(&settings("all"), true, &prepaid);
        assert_eq!((all.status, all.keeps_customer), (OrderStatus::Pending, true));
        assert!(decide(&settings("cod"), true, &cod).keeps_customer);
        assert_eq!(decide(&settings("all"), true, &cod).status, OrderStatus::Pending);
    }

    #[test]
    fn unusable_phone_or_unsaved_settings_skip() {
        let s = settings("cod");
        let none = decide(&s, true, &order(json!({})));
        assert_eq!(
            (none.status, none.reason.as_deref()),
            (OrderStatus::Skipped, Some("the order has no phone number"))
        );
        let bad = decide(&s, true, &order(json!({"phone": "12"})));
        assert_eq!(bad.status, OrderStatus::Skipped);
        assert!(bad.reason.unwrap().contains("no usable phone"));
        assert_eq!(decide(&s, false, &order(json!({"phone": "9876543210"}))).status, OrderStatus::Skipped);
    }

    #[test]
    fn the_shipping_pin_code_is_read_whatever_its_json_type() {
        let zip = |v: Value| order(json!({"shipping_address": {"zip": v}})).shipping_address.unwrap().zip;
        assert_eq!(zip(json!("411 001")).as_deref(), Some("411 001"));
        assert_eq!(zip(json!(411001)).as_deref(), Some("411001"));
        for none in [json!(null), json!({"a": 1}), json!([1])] {
            assert_eq!(zip(none.clone()), None, "{none}");
        }
        assert_eq!(order(json!({"shipping_address": {"phone": "9876543210"}})).shipping_address.unwrap().zip, None);
    }

    #[test]
    fn odd_address_fields_never_lose_the_order() {
        let o = order(json!({"shipping_address": {"phone": "9876543210", "address1": {"x": 1}, "city": null, "zip": 411001, "country_code": ["IN"]}}));
        let a = o.shipping_address.unwrap();
        assert_eq!((a.address1, a.city, a.zip.as_deref(), a.country_code), (None, None, Some("411001"), None));
        assert_eq!(a.phone.as_deref(), Some("9876543210"));
    }

    #[test]
    fn the_customer_locale_is_read_when_it_is_a_language_tag() {
        assert_eq!(order(json!({"customer_locale": "hi-IN"})).customer_locale().as_deref(), Some("hi-IN"));
        assert_eq!(order(json!({"customer_locale": "en"})).customer_locale().as_deref(), Some("en"));
        for odd in [json!(null), json!(""), json!(42), json!({"lang": "hi"}), json!("<script>"), json!("x".repeat(40))] {
            assert_eq!(order(json!({"customer_locale": odd})).customer_locale(), None, "{odd}");
        }
        assert_eq!(order(json!({})).customer_locale(), None);
    }
}
