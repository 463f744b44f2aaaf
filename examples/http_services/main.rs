//! Two HTTP services in one process, traced across the call between them with no span or
//! header code of their own: one `.layer(ServerLayer::new())` on each router and the
//! middleware on the client.
//!
//! ```text
//! example client ──POST /chat──▶ front ──GET /search (reqwest + TracingMiddleware)──▶ back
//!   (untraced)                   SERVER span   CLIENT span (child)                   SERVER span (grandchild)
//! ```
//!
//! Both servers listen on ephemeral 127.0.0.1 ports. Telemetry goes wherever the environment
//! says (`tracing_insights::init()`): Application Insights with
//! `APPLICATIONINSIGHTS_CONNECTION_STRING`, OTLP with `OTEL_EXPORTER_OTLP_ENDPOINT`, a
//! preset's variables; JSON log lines with `operation_Id` on stdout. Flushes, then exits 0.
//!
//! ```text
//! cargo run --example http_services --features http-axum,http-reqwest -- --requests 5
//! ```

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use tracing_insights::http::{ServerLayer, TracingMiddleware, UrlTemplate};

/// What `front`'s handler needs: the traced client and where `back` listens.
#[derive(Clone)]
struct Front {
    client: reqwest_middleware::ClientWithMiddleware,
    back: SocketAddr,
}

/// `front`'s `POST /chat`: asks `back` for documents, inside this request's span.
async fn chat(State(front): State<Front>, question: String) -> Result<String, String> {
    let words = question.split_whitespace().count();
    let found = front
        .client
        .get(format!("http://{}/search?q={words}", front.back))
        .with_extension(UrlTemplate::new("/search"))
        .send()
        .await
        .map_err(|e| format!("search failed: {e}"))?
        .text()
        .await
        .map_err(|e| format!("search failed: {e}"))?;
    tracing::info!(words, "answered");
    Ok(format!("answer from {found}"))
}

/// `back`'s `GET /search`.
async fn search() -> &'static str {
    tracing::info!(documents = 3, "searched");
    "3 documents"
}

fn parse_requests() -> Result<usize, String> {
    let mut requests = 5;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--requests" => {
                requests = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--requests takes a number")?;
            }
            "-h" | "--help" => return Err("usage: http_services [--requests N]".into()),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(requests)
}

/// Serves `app` on an ephemeral loopback port until `stop` fires; the task ends when every
/// connection has closed (so every request span has ended).
async fn serve(
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await
    });
    Ok((addr, task))
}

async fn run(requests: usize) -> Result<(), String> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let back = Router::new()
        .route("/search", get(search))
        .layer(ServerLayer::new());
    let (back_addr, back_task) = serve(back, stopped.clone())
        .await
        .map_err(|e| e.to_string())?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    let front = Router::new()
        .route("/chat", post(chat))
        .with_state(Front {
            client,
            back: back_addr,
        })
        .layer(ServerLayer::new());
    let (front_addr, front_task) = serve(front, stopped).await.map_err(|e| e.to_string())?;
    tracing::info!(%front_addr, %back_addr, requests, "http_services listening");

    // The example's own client: plain reqwest, so its calls start the traces.
    let user = reqwest::Client::new();
    for i in 0..requests {
        let response = user
            .post(format!("http://{front_addr}/chat"))
            .body(format!("question number {i}"))
            .send()
            .await
            .map_err(|e| format!("request {i}: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("request {i}: {status} {text}"));
        }
    }
    drop(user);
    let _ = stop.send(true);
    for task in [front_task, back_task] {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(format!("server: {e}")),
            Ok(Err(e)) => return Err(format!("server task: {e}")),
            Err(_) => return Err("a server did not stop within 10 s".into()),
        }
    }
    tracing::info!(requests, "http_services done");
    Ok(())
}

fn main() -> ExitCode {
    let requests = match parse_requests() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Whatever the environment configures (App Insights, OTLP, a preset; JSON log lines with
    // ids on stdout), one call.
    let guard = match tracing_insights::init() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("http_services: {e}");
            return ExitCode::from(2);
        }
    };
    // reqwest's TLS (for https:// URLs) uses rustls with the ring provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("http_services: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(requests));
    drop(runtime);
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_services: {e}");
            ExitCode::FAILURE
        }
    };
    if let Err(e) = guard.shutdown(Duration::from_secs(10)) {
        eprintln!("http_services: telemetry not fully delivered: {e}");
        return ExitCode::FAILURE;
    }
    code
}
