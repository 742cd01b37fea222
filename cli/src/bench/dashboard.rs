//! `bench --search` also times the dashboard on the same backlog, through the api's real router
//! in process (no network): the job search page for the value only the oldest job has (the page
//! follows the backend's cursors itself; median of 3) and the overview (median of 11), then the
//! overview again once every job succeeded (its counts of recent endings then span the backlog).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dezky_api_shim::{AppState, TokenSet, Tokens};
use dezky_queue::DynQueue;
use serde::Serialize;
use tower::ServiceExt;

use super::{percentile, round2};

/// What the dashboard measured.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardTimes {
    /// `GET /ui/jobs?q=<value in the oldest job>`, median of 3.
    pub ui_search_ms: f64,
    /// Whether that page found the job (it stops following cursors after its time budget).
    pub ui_search_found: bool,
    /// `GET /ui/`, median of 11.
    pub ui_overview_ms: f64,
    /// `GET /ui/` again once every job succeeded (all within the overview's windows), median
    /// of 11.
    pub ui_overview_finished_ms: f64,
}

/// Times the dashboard over `queue`, where only the oldest job's args hold `needle`.
pub async fn measure(queue: &DynQueue, needle: &str) -> anyhow::Result<DashboardTimes> {
    let dir = tempfile::tempdir().context("a temp dir for the dashboard's store")?;
    let store = dezky_store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("store.db").display()
    ))
    .await?;
    let token = format!("bench-{}", rand::random::<u64>());
    let tokens = Tokens {
        ops: TokenSet::parse(&format!("bench={token}")).map_err(anyhow::Error::msg)?,
        ..Tokens::default()
    };
    let app = dezky_api_shim::router(AppState {
        queue: queue.clone(),
        registry: Arc::new(dezky_jobs::kinds::registry(false)),
        tokens: Arc::new(tokens),
        secrets: None,
        store: Some(store.clone()),
        shared_db: None,
        metrics: None,
    });
    let login = Request::post("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))?;
    let answer = app.clone().oneshot(login).await?;
    let cookie = answer
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("the login set no session")?
        .to_owned();
    let get = |path: String| {
        let app = app.clone();
        let cookie = cookie.clone();
        async move {
            let request = Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())?;
            let started = Instant::now();
            let answer = app.oneshot(request).await?;
            let status = answer.status();
            let body = axum::body::to_bytes(answer.into_body(), usize::MAX).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            anyhow::ensure!(status == StatusCode::OK, "the dashboard answered {status}");
            Ok::<_, anyhow::Error>((ms, String::from_utf8_lossy(&body).into_owned()))
        }
    };
    let mut search = Vec::new();
    let mut found = true;
    for _ in 0..3 {
        let (ms, page) = get(format!("/ui/jobs?q={needle}")).await?;
        found &= page.contains("1 found");
        search.push(ms);
    }
    let overview = || async {
        let mut times = Vec::new();
        for _ in 0..11 {
            times.push(get("/ui/".into()).await?.0);
        }
        times.sort_by(f64::total_cmp);
        Ok::<_, anyhow::Error>(round2(percentile(&times, 0.5)))
    };
    let ui_overview_ms = overview().await?;
    succeed_all(queue).await?;
    let ui_overview_finished_ms = overview().await?;
    search.sort_by(f64::total_cmp);
    store.close().await;
    Ok(DashboardTimes {
        ui_search_ms: round2(percentile(&search, 0.5)),
        ui_search_found: found,
        ui_overview_ms,
        ui_overview_finished_ms,
    })
}

/// Leases and succeeds every job of the backlog, a thousand at a time.
async fn succeed_all(queue: &DynQueue) -> anyhow::Result<()> {
    loop {
        let fetched = queue
            .fetch(dezky_queue::FetchRequest {
                queue: "bench".into(),
                worker: "bench-dashboard".into(),
                limit: 1000,
                lease_ttl: std::time::Duration::from_secs(60),
            })
            .await?;
        if fetched.jobs.is_empty() {
            return Ok(());
        }
        let acks: Vec<_> = fetched
            .jobs
            .into_iter()
            .map(|j| {
                (
                    j.lease,
                    dezky_queue::Outcome::Succeeded(serde_json::Value::Null),
                )
            })
            .collect();
        queue.complete_many(&acks).await?;
    }
}
