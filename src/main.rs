use codverify::Application;
use codverify::config::Config;

fn main() -> std::process::ExitCode {
    // The simulator needs no database, environment or runtime: it goes before the configuration.
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    if args.first().map(String::as_str) == Some("simulate") {
        return codverify::simulate::main(&args[1..]);
    }
    serve()
}

#[tokio::main]
async fn serve() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()))
        .init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("codverify: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let app = match Application::build(config).await {
        Ok(a) => a,
        // A refusal that needed the database (demo mode on a real shop's data) is a configuration error too.
        Err(e) if e.downcast_ref::<codverify::config::ConfigError>().is_some() => {
            eprintln!("codverify: {e}");
            return std::process::ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("codverify: could not start: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if app.state().demo.is_some() {
        // The newcomer's first step: where to click.
        println!("codverify demo: open http://127.0.0.1:{}/demo", app.port());
    }
    match app.run_until(shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codverify: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// SIGTERM (how process managers stop services) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests and jobs");
}
