//! Demo mode, black-box: the app started with no Shopify credentials plays Shopify and Exotel
//! itself; the console drives a whole verification through the real HTTP paths.

use std::collections::HashMap;
use std::time::Duration;

use codverify::config::Config;
use codverify::{AppState, Application};

use crate::common::TestApp;

struct Demo {
    url: String,
    client: reqwest::Client,
    state: AppState,
    _dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/demo.db", dir.path().display());
    let vars: HashMap<&str, String> = [("DATABASE_URL", db), ("BIND_ADDR", "127.0.0.1:0".to_string())].into_iter().collect();
    let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    assert!(config.demo_mode());
    let app = Application::build(config).await.unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Demo { url, client, state, _dir: dir, stop }
}

impl Demo {
    async fn post(&self, path: &str, form: &[(&str, &str)]) {
        let r = self.client.post(format!("{}{path}", self.url)).form(form).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}: {}", r.text().await.unwrap());
    }

    fn sim(&self) -> &codverify::demo::Sim {
        self.state.demo.as_deref().expect("demo simulators")
    }

    /// Waits for a call ringing on the simulated phone.
    async fn ringing(&self) -> String {
        for _ in 0..200 {
            if let Some(c) = self.sim().state.lock().unwrap().calls.iter().find(|c| c.status == "ringing") {
                return c.sid.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no call rang");
    }

    async fn order_status(&self, n: usize) -> String {
        let rows: Vec<String> = codverify::on_db!(&self.state.db, c => sqlx::query_scalar("SELECT status FROM orders ORDER BY created_at, shopify_order_id")
            .fetch_all(c).await).unwrap();
        rows.get(n).cloned().unwrap_or_default()
    }

    async fn wait_for(&self, n: usize, status: &str) {
        for _ in 0..200 {
            if self.order_status(n).await == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("order {n} is {}, not {status}", self.order_status(n).await);
    }

    async fn count(&self, sql: &'static str) -> i64 {
        codverify::on_db!(&self.state.db, c => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await).unwrap()
    }

    /// Waits until the console's order list shows the (only, newest) order's fulfilment as `what`.
    async fn console_shows_hold(&self, what: &str) {
        let mut page = String::new();
        for _ in 0..200 {
            page = self.client.get(format!("{}/demo?refresh=0", self.url)).send().await.unwrap().text().await.unwrap();
            if page.contains(&format!("\">{what}</span>")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the console does not show the order {what}: {page}");
    }

    fn shopify_tags(&self) -> Vec<String> {
        self.sim().state.lock().unwrap().orders.values().flat_map(|o| o.tags.clone()).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_confirms_by_call_and_by_sms_link() {
    let demo = start().await;
    let page = demo.client.get(format!("{}/demo", demo.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("demo mode"));
    // The demo shop starts on WhatsApp → IVR → SMS link; this story is about calls and the link.
    demo.post("/demo/plan", &[("plan", "ivr_sms_link")]).await;
    let page = demo.client.get(format!("{}/demo?refresh=0", demo.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"value="ivr_sms_link" checked"#), "the console shows the plan");

    // An order; the simulated phone rings; pressing 1 confirms it and tags it in "Shopify".
    demo.post("/demo/orders", &[("phone", "9876543210"), ("amount", "499"), ("payment", "cod")]).await;
    let sid = demo.ringing().await;
    // Unconfirmed, the order is held in "Shopify": the console shows it and Fulfil is refused.
    demo.console_shows_hold("on hold").await;
    let gid = demo.sim().state.lock().unwrap().orders.keys().next().cloned().unwrap();
    let r = demo.client.post(format!("{}/demo/fulfil", demo.url)).form(&[("gid", gid.as_str())]).send().await.unwrap();
    let note = r.headers()["location"].to_str().unwrap().to_string();
    assert!(note.contains("refused"), "{note}");
    assert_eq!(demo.sim().state.lock().unwrap().orders[&gid].fulfilment(), "on hold");
    demo.post(&format!("/demo/calls/{sid}"), &[("action", "1")]).await;
    demo.wait_for(0, "confirmed").await;
    // Confirmed: the hold is released, and the order ships.
    demo.console_shows_hold("released").await;
    demo.post("/demo/fulfil", &[("gid", gid.as_str())]).await;
    assert_eq!(demo.sim().state.lock().unwrap().orders[&gid].fulfilment(), "fulfilled");
    for _ in 0..100 {
        if demo.shopify_tags().contains(&"cod_confirmed".to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(demo.shopify_tags(), vec!["cod_confirmed"]);
    let greeting = demo.sim().state.lock().unwrap().calls[0].greeting.clone().unwrap();
    assert!(greeting.starts_with("Your order number") && greeting.ends_with("of rupees 499 from Codverify Demo"), "{greeting}");

    // Another that goes unanswered: the clock skips through the retries, then the SMS link confirms.
    demo.post("/demo/orders", &[("phone", "9876543211"), ("amount", "799"), ("payment", "cod")]).await;
    for attempt in 0..3 {
        let sid = demo.ringing().await;
        demo.post(&format!("/demo/calls/{sid}"), &[("action", "no-answer")]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if attempt < 2 {
            demo.post("/demo/clock", &[("to", "next")]).await;
        }
    }
    let link = {
        let mut link = None;
        for _ in 0..100 {
            link = demo.sim().state.lock().unwrap().sms.iter().flat_map(|m| m.body.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .find(|w| w.contains("/v/"));
            if link.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        link.expect("the fallback SMS carries a link")
    };
    let path = &link[link.find("/v/").unwrap()..];
    // The same link page as for real shops: the shopper corrects the address and confirms, and
    // the simulated Shopify receives it.
    let page = demo.client.get(format!("{}{path}", demo.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Edit address") && page.contains("12, 4th Cross Road, Indiranagar"), "{page}");
    let r = demo.client.post(format!("{}{path}", demo.url))
        .form(&[("action", "confirm"), ("address1", "221, 5th Main Road, HAL 2nd Stage"), ("zip", "560008")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    demo.wait_for(1, "confirmed").await;
    let mut updated = None;
    for _ in 0..100 {
        updated = demo.sim().state.lock().unwrap().orders.values().find_map(|o| o.shipping_address.clone());
        if updated.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(updated.as_deref(), Some("221, 5th Main Road, HAL 2nd Stage, Near the metro station, Bengaluru, 560008"));
    assert!(demo.console().await.contains("address updated: 221, 5th Main Road"));
    let _ = demo.stop.send(());
}

impl Demo {
    /// Waits for WhatsApp message `n` (in sending order) on the simulated phone with `status`.
    async fn whatsapp(&self, n: usize, status: &str) -> codverify::demo::sim::SimWhatsapp {
        for _ in 0..200 {
            if let Some(m) = self.sim().state.lock().unwrap().whatsapp.get(n).filter(|m| m.status == status) {
                return m.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no WhatsApp message {n} {status}: {:?}", self.sim().state.lock().unwrap().whatsapp);
    }

    async fn console(&self) -> String {
        self.client.get(format!("{}/demo?refresh=0", self.url)).send().await.unwrap().text().await.unwrap()
    }
}

/// The default plan starts on WhatsApp: the app's real client sends the template to the simulated
/// Exotel v2 API, its delivery report comes back, the phone shows the bubble with its buttons; a
/// tap (or a typed "haan") goes back as Exotel's `icm` callback and confirms the order. A number
/// not on WhatsApp fails and the plan moves on to the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_confirms_on_whatsapp() {
    let demo = start().await;
    assert!(demo.console().await.contains(r#"value="whatsapp_ivr_sms_link" checked"#));

    demo.post("/demo/orders", &[("phone", "9876543210"), ("amount", "499"), ("payment", "cod")]).await;
    let m = demo.whatsapp(0, "delivered").await;
    assert_eq!((m.to.as_str(), m.from.as_str(), m.template.as_str(), m.language.as_str()), ("+919876543210", "+919800012345", "cod_confirmation", "en"));
    assert_eq!(m.params.len(), 4);
    assert!(m.params[0].starts_with('#') && m.params[1].contains("499") && m.params[2] == "Handloom kurta × 1", "{:?}", m.params);
    // {{4}}: the demo order's shipping address on one line.
    assert_eq!(m.params[3], "12, 4th Cross Road, Indiranagar, Near the metro station, Bengaluru, Karnataka 560038");
    let labels: Vec<&str> = m.buttons.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["Confirm order", "Cancel order", "Call me"]);
    assert!(m.buttons[0].1.ends_with(".confirm") && m.buttons[1].1.ends_with(".cancel") && m.buttons[2].1.ends_with(".callback"));
    assert!(m.status_callback.ends_with("/whatsapp") && m.status_callback.contains("/exotel/"), "{}", m.status_callback);
    // The delivery report reached the app.
    for _ in 0..100 {
        if demo.count("SELECT COUNT(*) FROM whatsapp_messages WHERE status = 'delivered'").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(demo.count("SELECT COUNT(*) FROM whatsapp_messages WHERE status = 'delivered'").await, 1);
    assert_eq!(demo.count("SELECT COUNT(*) FROM call_attempts").await, 0, "no call while WhatsApp waits for an answer");

    // The phone shows the bubble; a tap on Confirm confirms the order and tags it in "Shopify".
    let page = demo.console().await;
    assert!(page.contains(&format!("Please confirm your Cash on Delivery order {} of", m.params[0])) && page.contains("Handloom kurta × 1"), "{page}");
    assert!(page.contains(&format!(r#"name="payload" value="{}""#, m.buttons[0].1)) && page.contains(">Confirm order</button>"));
    demo.post(&format!("/demo/whatsapp/{}", m.sid), &[("payload", m.buttons[0].1.as_str())]).await;
    demo.wait_for(0, "confirmed").await;
    for _ in 0..100 {
        if !demo.shopify_tags().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(demo.shopify_tags(), vec!["cod_confirmed"]);
    assert!(demo.console().await.contains(r#"<div class="bubble mine">Confirm order</div>"#));
    // A payload the message does not carry is refused by the simulated phone.
    let r = demo.client.post(format!("{}/demo/whatsapp/{}", demo.url, m.sid)).form(&[("payload", "forged.confirm")]).send().await.unwrap();
    assert_eq!(r.status(), 400);

    // A typed "haan" confirms too.
    demo.post("/demo/orders", &[("phone", "9876543211"), ("amount", "799"), ("payment", "cod")]).await;
    let m = demo.whatsapp(1, "delivered").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    demo.post(&format!("/demo/whatsapp/{}", m.sid), &[("text", "haan")]).await;
    demo.wait_for(1, "confirmed").await;

    // Not on WhatsApp: the delivery report says failed and the phone rings instead.
    demo.post("/demo/orders", &[("phone", "9876549999"), ("amount", "299"), ("payment", "cod")]).await;
    demo.whatsapp(2, "failed").await;
    let sid = demo.ringing().await;
    demo.post(&format!("/demo/calls/{sid}"), &[("action", "1")]).await;
    demo.wait_for(2, "confirmed").await;

    // No answer on WhatsApp: skipping the clock past the wait moves the plan on to the call.
    demo.post("/demo/orders", &[("phone", "9876543212"), ("amount", "199"), ("payment", "cod")]).await;
    demo.whatsapp(3, "delivered").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    demo.post("/demo/clock", &[("to", "next")]).await;
    let sid = demo.ringing().await;
    demo.post(&format!("/demo/calls/{sid}"), &[("action", "2")]).await;
    demo.wait_for(3, "cancelled").await;

    // Plan switches go through the settings code: "IVR only" is a valid plan; an unknown one is not.
    demo.post("/demo/plan", &[("plan", "ivr")]).await;
    assert!(demo.console().await.contains(r#"value="ivr" checked"#));
    let r = demo.client.post(format!("{}/demo/plan", demo.url)).form(&[("plan", "fax")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    demo.post("/demo/plan", &[("plan", "whatsapp_ivr_sms_link")]).await;
    assert!(demo.console().await.contains(r#"value="whatsapp_ivr_sms_link" checked"#));
    let _ = demo.stop.send(());
}

/// The simulated Exotel v2 messages API answers like Exotel: 202 with a verdict per message, 400
/// for a body it cannot read or more than 100 messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_simulates_the_whatsapp_api() {
    use serde_json::json;
    let demo = start().await;
    let url = format!("{}/demo/exotel/v2/accounts/demo-account/messages", demo.url);
    let post = |body: serde_json::Value| demo.client.post(&url).json(&body).send();
    let r = demo.client.post(&url).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(post(json!({"whatsapp": {"messages": []}})).await.unwrap().status(), 400);
    let many: Vec<_> = (0..101).map(|_| json!({})).collect();
    assert_eq!(post(json!({"whatsapp": {"messages": many}})).await.unwrap().status(), 400);
    let ok = json!({"from": "+919800012345", "to": "+919876543210", "content": {"type": "template", "template": {"name": "other_template",
        "language": {"policy": "deterministic", "code": "en"}, "components": [{"type": "body", "parameters": [{"type": "text", "text": "A"}]}]}}});
    let r = post(json!({"whatsapp": {"messages": [ok, {"from": "+919800012345", "content": {"type": "text"}}]}})).await.unwrap();
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["metadata"], json!({"total": 2, "success": 1, "failed": 1}));
    let answers = v["response"]["whatsapp"]["messages"].as_array().unwrap();
    assert_eq!((answers[0]["code"].as_i64(), answers[0]["status"].as_str()), (Some(202), Some("success")));
    assert!(answers[0]["data"]["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(answers[1]["status"], "failure");
    assert!(answers[1]["error_data"]["description"].as_str().unwrap().contains("to"));
    let s = demo.sim().state.lock().unwrap().whatsapp.clone();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].body(), "[template other_template] A");
    let _ = demo.stop.send(());
}

/// The newcomer's first two minutes in a real browser: `tests/browser/demo.mjs` taps Confirm on
/// the WhatsApp message, switches the plan to IVR → SMS link, answers a call with 1 and sees the
/// tag and Call history, then confirms an unanswered order through the SMS
/// link after skipping the clock through the retries. Screenshots in `target/browser/demo/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_in_a_browser() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/browser");
    if !crate::browser::browser_available(&dir) {
        return;
    }
    let demo = start().await;
    let out = root.join("target/browser/demo");
    crate::browser::run_script("demo.mjs", &[demo.url.as_ref(), out.as_os_str()], Duration::from_secs(180)).await;
    assert!(out.join("demo-wa-1-message.png").exists() && out.join("demo-4-call-history.png").exists() && out.join("demo-6-link-confirmed.png").exists());
    for n in 0..3 {
        assert_eq!(demo.order_status(n).await, "confirmed", "order {n}");
    }
    let _ = demo.stop.send(());
}

/// The console and the simulators exist only in demo mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_demo_routes_for_real_shops() {
    let Some(app) = TestApp::spawn(crate::common::Backend::Sqlite).await else { return };
    for path in ["/demo", "/demo/exotel/v1/Accounts/x/Balance.json"] {
        assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), 404, "{path}");
    }
    let r = app.client.post(app.url("/demo/exotel/v2/accounts/x/messages")).json(&serde_json::json!({"whatsapp": {"messages": [{}]}})).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = app.client.post(app.url("/demo/orders")).form(&[("phone", "1"), ("amount", "1"), ("payment", "cod")]).send().await.unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

/// The demo's signing secret is public, so a demo process authorises the demo shop alone: a token
/// or webhook it signs for any other shop is refused (401) and installs, creates or changes
/// nothing — also for a shop that appears in its database after it started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_credentials_speak_for_the_demo_shop_alone() {
    use codverify::demo;
    let d = start().await;
    let now = d.state.clock.now_secs();
    let token = |shop: &str| {
        let claims = serde_json::json!({"iss": format!("https://{shop}/admin"), "dest": format!("https://{shop}"), "aud": demo::API_KEY,
            "sub": "1", "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"});
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(demo::API_SECRET.as_bytes())).unwrap()
    };
    let webhook = |topic: &'static str, shop: &'static str, id: &'static str, body: serde_json::Value| {
        let raw = serde_json::to_vec(&body).unwrap();
        let hmac = {
            use hmac::Mac;
            let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(demo::API_SECRET.as_bytes()).unwrap();
            mac.update(&raw);
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mac.finalize().into_bytes())
        };
        d.client
            .post(format!("{}/webhooks/shopify", d.url))
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Shop-Domain", shop)
            .header("X-Shopify-Webhook-Id", id)
            .header("X-Shopify-Hmac-Sha256", hmac)
            .body(raw)
            .send()
    };

    // A shop the database never held: refused, and no token exchange installs it.
    let stranger = "stranger.myshopify.com";
    let r = d.client.get(format!("{}/app/api/settings", d.url)).bearer_auth(token(stranger)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = d.client.get(format!("{}/app/history/orders?shop={stranger}&id_token={}", d.url, token(stranger))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = webhook("orders/create", "stranger.myshopify.com", "s-1", crate::common::order_payload(1, "Cash on Delivery (COD)", Some("9876543210"))).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(d.count("SELECT COUNT(*) FROM shops WHERE domain = 'stranger.myshopify.com'").await, 0);

    // A real shop that appears after the demo started (a restored or shared file): still refused.
    let late = "late.myshopify.com";
    let access = d.state.cipher.encrypt("shpat_late");
    codverify::on_db!(&d.state.db, c => sqlx::query(
        "INSERT INTO shops (id, domain, status, settings_saved, access_token_enc, exotel_key, installed_at, created_at, updated_at) \
         VALUES ('late', $1, 'installed', TRUE, $2, 'late-key', 0, 0, 0)").bind(late).bind(access).execute(c).await.map(|_| ())).unwrap();
    let r = d.client.get(format!("{}/app/api/settings", d.url)).bearer_auth(token(late)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = d.client.get(format!("{}/app/history/calls?format=csv&id_token={}", d.url, token(late))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    for (topic, id) in [("app/uninstalled", "l-1"), ("shop/redact", "l-2"), ("customers/redact", "l-3")] {
        let r = webhook(topic, "late.myshopify.com", id, serde_json::json!({"id": 1, "shop_domain": late, "customer": {"id": 1}})).await.unwrap();
        assert_eq!(r.status(), 401, "{topic}");
    }
    assert_eq!(d.count("SELECT COUNT(*) FROM shops WHERE domain = 'late.myshopify.com' AND status = 'installed' AND access_token_enc IS NOT NULL").await, 1);
    assert_eq!(d.count("SELECT COUNT(*) FROM webhooks").await, 0, "nothing stored for another shop");

    // Positive controls: the demo shop's own token and webhooks are taken.
    let r = d.client.get(format!("{}/app/api/settings", d.url)).bearer_auth(token(demo::SHOP)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = webhook("customers/data_request", demo::SHOP, "ok-1", serde_json::json!({"shop_domain": demo::SHOP, "customer": {"id": 1}, "orders_requested": []}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(d.count("SELECT COUNT(*) FROM webhooks").await, 1);
    let _ = d.stop.send(());
}
