//! The dashboard in a real browser (headless Chromium over WebDriver): log in, find a dead job
//! by an arg value, retry it, see it succeed, see the overview's numbers change without a
//! reload, log out. Screenshots of each page land in `target/dashboard-screenshots/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::webdriver::Browser;
use common::{OPS_TOKEN, fast_workers, poll_until, spawn_app_with};
use dezky_queue::{JobState, NewJob};
use serde_json::json;

fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/dashboard-screenshots")
        .join(format!("{name}.png"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_a_dead_job_retry_it_and_see_it_succeed() {
    let app = spawn_app_with(Some(fast_workers())).await;
    let base = format!("http://{}", app.addr);
    // A job that fails for good on its first attempt and succeeds on the next.
    let needle = "ticket-7f3a-browser";
    let mut job = NewJob::new(
        "fail",
        json!({"mode": "abort", "succeed_on_attempt": 2, "ticket": needle}),
    );
    job.tenant = Some("acme".into());
    let id = app.queue.push(job).await.unwrap().id;
    let died = poll_until(Duration::from_secs(20), || async {
        app.queue
            .get(&id)
            .await
            .unwrap()
            .is_some_and(|j| j.state == JobState::Dead)
    })
    .await;
    assert!(died, "the job died on its first attempt");
    app.store
        .put_schedule(
            "reconcile",
            "reconcile-tenants",
            &json!({}),
            "*/15 * * * *",
            None,
            0,
        )
        .await
        .unwrap();

    let browser = Browser::start().await;
    browser.go(&format!("{base}/ui/")).await;
    assert!(
        browser.url().await.ends_with("/ui/login"),
        "sent to the login"
    );
    browser.screenshot(&shot("login")).await;
    let token = browser.element("#token").await;
    browser.type_into(&token, OPS_TOKEN).await;
    browser.follow(&browser.element("#login").await).await;
    assert!(
        browser.url().await.ends_with("/ui/"),
        "{}",
        browser.url().await
    );
    let dead = browser.element("[data-live=\"fail/dead\"]").await;
    assert_eq!(browser.text(&dead).await, "1");
    browser.screenshot(&shot("overview")).await;

    // Live: a job scheduled for later shows up in the open page's counts.
    let mut later = NewJob::new("fail", json!({"mode": "abort"}));
    later.run_at = Some(dezky_queue::clock::parse_rfc3339_ms("2999-01-01T00:00:00Z").unwrap());
    let later = app.queue.push(later).await.unwrap().id;
    let live = poll_until(Duration::from_secs(15), || async {
        let cell = browser.element("[data-live=\"fail/scheduled\"]").await;
        browser.text(&cell).await == "1"
    })
    .await;
    assert!(live, "the overview refreshed its numbers without a reload");
    app.queue.cancel(&later).await.unwrap();

    browser
        .follow(&browser.element("a[href=\"/ui/jobs\"]").await)
        .await;
    let search = browser.element("#q").await;
    browser.type_into(&search, needle).await;
    browser.follow(&browser.element("#search").await).await;
    let link = browser.element("#results a.job-link").await;
    assert_eq!(browser.text(&link).await, id.0);
    browser.screenshot(&shot("jobs-search")).await;
    browser.follow(&link).await;
    let state = browser.element("#state").await;
    assert_eq!(browser.text(&state).await, "dead");
    browser.screenshot(&shot("job-dead")).await;
    browser
        .follow(&browser.element("#action-retry").await)
        .await;
    let succeeded = poll_until(Duration::from_secs(20), || async {
        browser.go(&format!("{base}/ui/jobs/{id}")).await;
        let state = browser.element("#state").await;
        browser.text(&state).await == "succeeded"
    })
    .await;
    assert!(succeeded, "the retried job succeeded");
    let page = browser.source().await;
    assert!(
        page.contains("retry") && page.contains(">ops<"),
        "the retry is in the job's audit"
    );
    browser.screenshot(&shot("job")).await;

    browser.go(&format!("{base}/ui/schedules")).await;
    assert!(browser.source().await.contains("reconcile-tenants"));
    browser.screenshot(&shot("schedules")).await;

    browser.follow(&browser.element("#logout").await).await;
    assert!(browser.url().await.ends_with("/ui/login"), "logged out");
    browser.go(&format!("{base}/ui/")).await;
    assert!(
        browser.url().await.ends_with("/ui/login"),
        "the session is gone"
    );
    browser.close().await;
    app.stop().await;
}
