//! The app under test: the release binary as a child process on a port of its own, with the
//! bench's credentials and nothing from this environment but `PATH`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;

use super::Conn;

/// The app's `SHOPIFY_API_KEY` and `SHOPIFY_API_SECRET` in every bench (webhook HMACs and
/// session tokens are signed with the secret).
pub(crate) const API_KEY: &str = "bench-key";
pub(crate) const SECRET: &str = "bench-secret";

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// A port that was free a moment ago, for the child to bind.
    pub(crate) fn free_addr() -> anyhow::Result<SocketAddr> {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        Ok(l.local_addr()?)
    }

    /// Starts `bin` on `addr` against `db_url` with a fresh encryption key and `RUST_LOG=warn`;
    /// `env` adds the bench's own settings (`RUN_MODE` and the like).
    pub(crate) fn start(bin: &Path, addr: SocketAddr, db_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Server> {
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let child = Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", db_url)
            .env("BIND_ADDR", addr.to_string())
            .env("APP_URL", format!("http://{addr}"))
            .env("SHOPIFY_API_KEY", API_KEY)
            .env("SHOPIFY_API_SECRET", SECRET)
            .env("APP_ENCRYPTION_KEY", key)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Server { child, addr })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) async fn wait_healthy(&mut self) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("codverify exited during start-up ({status})");
            }
            if let Ok(mut c) = Conn::connect(self.addr).await
                && let Ok(Ok((200, _))) = tokio::time::timeout(Duration::from_secs(2), c.roundtrip(req.as_bytes())).await
            {
                return Ok(start.elapsed());
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("GET /healthz did not answer 200 within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("codverify exited ({status})");
        }
        Ok(())
    }

    /// SIGTERM, then wait up to `grace` for a graceful exit.
    pub(crate) fn stop(&mut self, grace: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        if self.child.try_wait()?.is_some() {
            bail!("codverify had already exited");
        }
        let status = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status()?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid());
        }
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("codverify exited with {status} after SIGTERM");
                }
                return Ok(start.elapsed());
            }
            if start.elapsed() > grace {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("codverify did not exit within {} s of SIGTERM", grace.as_secs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only does anything on an error path before `stop`: never leave the child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
