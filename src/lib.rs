//! codverify: verifies cash-on-delivery orders of Shopify shops with the shopper before they ship.

pub mod app;
pub mod click_to_call;
pub mod clock;
pub mod compliance;
pub mod config;
pub mod costs;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod exotel;
pub mod inbox;
pub mod outcomes;
pub mod pincode;
pub mod reports;
pub mod settings;
pub mod shopify;
pub mod simulate;
pub mod verification;
pub mod web;
pub mod worker;

use std::ops::Deref;
use std::sync::Arc;

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Cipher;
use crate::db::Db;
use crate::db::inbox::Intake;
use crate::shopify::ShopifyApp;
use crate::app::TokenLocks;

/// What a request handler holds: the shared [`App`], and demo mode's simulators (`None` when
/// serving real shops), which only the edges (web routes, `main`) ever look at.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub demo: Option<Arc<demo::Sim>>,
}

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

/// A built application: database migrated, port bound, not yet serving.
pub struct Application {
    state: AppState,
    listener: Option<TcpListener>,
    port: u16,
}

impl Application {
    pub async fn build(mut config: Config) -> anyhow::Result<Application> {
        // reqwest is built without a default TLS provider (one crypto stack for the whole binary).
        let _ = rustls::crypto::ring::default_provider().install_default();

        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        let demo_mode = config.demo_mode();
        if demo_mode {
            // The demo's signing secret is public: it never runs on a database that serves real shops.
            let (others, example) = db::shops::others_than(&db, demo::SHOP).await?;
            if others > 0 {
                db.close().await;
                return Err(config::ConfigError {
                    var: "DATABASE_URL",
                    message: format!(
                        "holds {others} shop(s) besides the demo shop (e.g. {}), but SHOPIFY_API_KEY and SHOPIFY_API_SECRET are unset, \
                         so this would start the demo on a real shop's data; set the Shopify credentials, or point DATABASE_URL at a demo database",
                        example.unwrap_or_default()
                    ),
                }
                .into());
            }
        }
        let clock = match (config.test_clock, demo_mode) {
            (true, _) => Clock::test(),
            (false, true) => Clock::demo(),
            (false, false) => Clock::system(),
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("codverify/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()?;
        let listener = if config.run_mode.runs_web() {
            Some(TcpListener::bind(config.bind_addr).await?)
        } else {
            None
        };
        let port = listener
            .as_ref()
            .map(|l| l.local_addr().map(|a| a.port()))
            .transpose()?
            .unwrap_or(0);
        // Demo mode: this process plays Shopify and Exotel too, under /demo/… on its own port.
        let demo = (demo_mode && port != 0).then(|| Arc::new(demo::Sim::new(port)));
        if demo.is_some() {
            let origin = format!("http://127.0.0.1:{port}");
            if !config.app_url_given {
                // Links in the demo's SMS must open on this machine, whatever port it got.
                config.app_url = origin.clone();
            }
            config.shopify_api_origin.get_or_insert_with(|| format!("{origin}/demo/shopify"));
            config.exotel_api_origin.get_or_insert_with(|| format!("{origin}/demo/exotel"));
        }
        let demo_credentials = demo.as_ref().map(|_| config::ShopifyCredentials {
            api_key: demo::API_KEY.into(),
            api_secret: secrecy::SecretString::from(demo::API_SECRET),
        });
        let shopify = config.shopify.as_ref().or(demo_credentials.as_ref()).map(|c| {
            ShopifyApp::new(
                c.api_key.clone(),
                c.api_secret.clone(),
                config.scopes.clone(),
                config.shopify_api_origin.clone(),
                config.app_url.clone(),
                http.clone(),
            )
        });
        // The demo's secret is published in this repository: it speaks for the demo shop alone.
        let shopify = match (shopify, demo_mode) {
            (Some(s), true) => Some(s.only_for(domain::ShopDomain::parse(demo::SHOP).map_err(anyhow::Error::msg)?)),
            (s, _) => s,
        };
        let cookie_key = {
            let secret = config
                .shopify
                .as_ref()
                .map(|c| c.api_secret.expose_secret().to_string())
                .unwrap_or_default();
            let mut master = crypto::hmac_sha256(secret.as_bytes(), b"codverify cookie signing 1").to_vec();
            master.extend_from_slice(&crypto::hmac_sha256(secret.as_bytes(), b"codverify cookie signing 2"));
            cookie::Key::from(&master)
        };
        let cipher = Cipher::new(config.key_bytes());
        db::pii::seal_legacy(&db, &cipher).await?;
        let app = App {
            intake: Intake::start(db.clone(), clock.clone(), Arc::new(inbox::ActNow { cipher: cipher.clone() })),
            cipher,
            config,
            db,
            clock,
            http,
            shopify,
            token_locks: TokenLocks::default(),
            cookie_key,
        };
        if demo.is_some() {
            demo::seed(&app).await?;
        }
        Ok(Application {
            state: AppState { app: Arc::new(app), demo },
            listener,
            port,
        })
    }

    /// The bound port (0 when this process serves no HTTP).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves and works until `shutdown` resolves, then stops taking work, finishes what is in
    /// flight and returns.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let state = self.state.clone();
        let mode = state.config.run_mode;
        tracing::info!(
            port = self.port,
            db = state.db.backend_name(),
            ?mode,
            demo = state.config.demo_mode(),
            "codverify started"
        );

        let web = async {
            if let Some(listener) = self.listener {
                let router = web::router(state.clone());
                // axum::serve plus a header read timeout (slow clients are cut off).
                web::limits::serve(listener, router, state.config.client_timeout, stopped(stop_rx.clone())).await;
            }
            anyhow::Ok(())
        };
        // The workers get a task of their own, apart from the HTTP accept loop.
        let workers = {
            let state = state.clone();
            let stop = stopped(stop_rx.clone());
            async move {
                if mode.runs_workers() {
                    tokio::spawn(worker::run_workers(state.app.clone(), stop)).await??;
                }
                anyhow::Ok(())
            }
        };
        let (w, j) = tokio::join!(web, workers);
        state.db.close().await;
        w.and(j)
    }
}
