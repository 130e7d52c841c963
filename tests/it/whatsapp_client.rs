//! The WhatsApp client (`exotel::whatsapp`) against the fake Exotel over HTTP: what it sends, how it
//! reads acceptance, refusal and errors, and that the callbacks the fake posts parse as Exotel's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use codverify::domain::Choice;
use codverify::exotel::whatsapp::{self, Callback, Reply, SendOutcome, TemplateMessage, WaStatus};
use codverify::exotel::{Account, ExotelError};
use secrecy::SecretString;

use crate::common::FakeExotel;
use crate::common::fake_whatsapp::{WaDlr, WaReply};

const CUSTOMER: &str = "+919876543210";

async fn setup() -> (FakeExotel, reqwest::Client, Account) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeExotel::start().await;
    fake.add_account("acme1", "exokey", "exotoken");
    let acct = Account::new("api.in.exotel.com", Some(&fake.origin), "acme1", "exokey", SecretString::from("exotoken"));
    (fake, reqwest::Client::new(), acct)
}

fn message<'a>(to: &'a str, choices: &'a [Choice], status_callback: &'a str) -> TemplateMessage<'a> {
    TemplateMessage {
        from: "+918000000000",
        to,
        template: "cod_confirmation",
        language: "en",
        order_name: "#1001",
        amount: "₹499",
        items: "Linen kurta × 1",
        address: "12 MG Road, Pune 411001",
        token: "Tok3n_x",
        choices,
        status_callback,
        custom_data: "wa-1",
    }
}

const ALL: [Choice; 3] = [Choice::Confirm, Choice::Cancel, Choice::Callback];

#[tokio::test]
async fn whatsapp_template_is_accepted_with_its_buttons() {
    let (fake, http, acct) = setup().await;
    let sent = whatsapp::send_template(&http, &acct, &message(CUSTOMER, &ALL, "https://app.test/exotel/k/whatsapp")).await.unwrap();
    let SendOutcome::Accepted { sid } = sent else { panic!("{sent:?}") };
    let m = &fake.whatsapp_to("9876543210")[0];
    assert_eq!((m.sid.as_str(), m.account.as_str(), m.to(), m.custom_data()), (sid.as_str(), "acme1", CUSTOMER, "wa-1"));
    assert_eq!(m.request["status_callback"], "https://app.test/exotel/k/whatsapp");
    assert_eq!((m.template()["name"].as_str(), m.template()["language"]["policy"].as_str()), (Some("cod_confirmation"), Some("deterministic")));
    assert_eq!(m.body_params(), ["#1001", "₹499", "Linen kurta × 1", "12 MG Road, Pune 411001"]);
    let want: Vec<(String, String)> =
        [("0", "Tok3n_x.confirm"), ("1", "Tok3n_x.cancel"), ("2", "Tok3n_x.callback")].map(|(i, p)| (i.into(), p.into())).into();
    assert_eq!(m.buttons(), want);

    // Without the callback option, two buttons.
    whatsapp::send_template(&http, &acct, &message(CUSTOMER, &[Choice::Cancel, Choice::Confirm], "https://app.test/cb")).await.unwrap();
    let m = &fake.whatsapp()[1];
    assert_eq!(m.buttons().into_iter().map(|(i, p)| format!("{i}:{p}")).collect::<Vec<_>>(), ["0:Tok3n_x.confirm", "1:Tok3n_x.cancel"]);
    assert_ne!(fake.whatsapp()[0].sid, m.sid);
}

#[tokio::test]
async fn whatsapp_refusals_and_errors() {
    let (fake, http, acct) = setup().await;
    let cb = "https://app.test/cb";
    fake.set_not_on_whatsapp("09876543210");
    match whatsapp::send_template(&http, &acct, &message(CUSTOMER, &ALL, cb)).await.unwrap() {
        SendOutcome::Refused { code, message, .. } => assert_eq!((code.as_deref(), message.as_str()), (Some("30013"), "Recipient not on WhatsApp")),
        other => panic!("{other:?}"),
    }
    assert!(fake.whatsapp().is_empty() && fake.whatsapp_requests().len() == 1);

    let other = "+919812345678";
    fake.fail_whatsapp(429, 1);
    fake.fail_whatsapp(500, 1);
    let r = whatsapp::send_template(&http, &acct, &message(other, &ALL, cb)).await;
    assert!(matches!(&r, Err(e @ ExotelError::RateLimited) if e.is_transient()), "{r:?}");
    let r = whatsapp::send_template(&http, &acct, &message(other, &ALL, cb)).await;
    assert!(matches!(&r, Err(e @ ExotelError::Server { status: 500, .. }) if e.is_transient()), "{r:?}");
    // The fault is spent: the next one goes through.
    assert!(matches!(whatsapp::send_template(&http, &acct, &message(other, &ALL, cb)).await, Ok(SendOutcome::Accepted { .. })));

    let bad = Account { api_token: SecretString::from("wrong"), ..acct.clone() };
    let r = whatsapp::send_template(&http, &bad, &message(other, &ALL, cb)).await;
    assert!(matches!(&r, Err(e @ ExotelError::Unauthorized) if !e.is_transient()), "{r:?}");
    // Not E.164: the fake refuses the request as malformed.
    let r = whatsapp::send_template(&http, &acct, &message("09812345678", &ALL, cb)).await;
    assert!(matches!(&r, Err(e @ ExotelError::Rejected { status: 400, .. }) if !e.is_transient()), "{r:?}");
    fake.fail_whatsapp(402, 1);
    let r = whatsapp::send_template(&http, &acct, &message(other, &ALL, cb)).await;
    assert!(matches!(&r, Err(e @ ExotelError::Rejected { status: 402, .. }) if !e.is_transient()), "{r:?}");
    assert_eq!(fake.whatsapp().len(), 1);
}

/// A status_callback endpoint that keeps every body it is posted.
async fn callback_sink() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let got: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let router = Router::new()
        .route("/exotel/k/whatsapp", post(|State(got): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move { got.lock().unwrap().push(body) }))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/exotel/k/whatsapp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn whatsapp_callbacks_from_the_fake_parse() {
    let (fake, http, acct) = setup().await;
    let (url, got) = callback_sink().await;
    let SendOutcome::Accepted { sid } = whatsapp::send_template(&http, &acct, &message(CUSTOMER, &ALL, &url)).await.unwrap() else { panic!() };
    let m = fake.whatsapp()[0].clone();
    for dlr in [WaDlr::Sent, WaDlr::Delivered, WaDlr::Read, WaDlr::Failed] {
        assert_eq!(fake.whatsapp_dlr(&m, dlr).await, 200);
    }
    for reply in [WaReply::Button(m.payload("confirm")), WaReply::Interactive(m.payload("callback")), WaReply::Text("नहीं".into())] {
        assert_eq!(fake.whatsapp_reply(&m, reply).await, 200);
    }
    let parsed: Vec<Callback> = got.lock().unwrap().iter().flat_map(|b| whatsapp::parse_callbacks(b).unwrap()).collect();
    let statuses: Vec<WaStatus> = parsed
        .iter()
        .filter_map(|c| match c {
            Callback::Delivery { sid: s, status, custom_data, .. } => {
                assert_eq!((s, custom_data.as_deref()), (&sid, Some("wa-1")));
                Some(*status)
            }
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [WaStatus::Sent, WaStatus::Delivered, WaStatus::Read, WaStatus::Failed]);
    let answers: Vec<Reply> = parsed
        .into_iter()
        .filter_map(|c| match c {
            Callback::Reply { from, to, answer } => {
                assert_eq!((from.as_str(), to.as_str()), (CUSTOMER, "+918000000000"));
                Some(answer)
            }
            _ => None,
        })
        .collect();
    let token = || "Tok3n_x".to_string();
    assert_eq!(answers, [
        Reply::Button { token: token(), choice: Choice::Confirm },
        Reply::Button { token: token(), choice: Choice::Callback },
        Reply::Typed(Choice::Cancel),
    ]);
    // A scripted 2xx without a body delays the usual answer.
    fake.script_whatsapp(202, None, Duration::from_millis(10));
    assert!(whatsapp::send_template(&http, &acct, &message(CUSTOMER, &ALL, &url)).await.is_ok());
}
