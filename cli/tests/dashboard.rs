//! The ops dashboard over HTTP: sessions, the login, CSRF, the audit, bulk actions, search and
//! the redaction of secrets. The browser test is `dashboard_browser.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use common::ui::{Visitor, csrf_of};
use common::{OPS_TOKEN, PORTAL_TOKEN, spawn_app_with};
use dezky_queue::{FetchRequest, JobFilter, JobId, JobState, NewJob, Outcome};
use serde_json::json;

/// A dead job of kind `echo` with `args`.
async fn dead_job(queue: &dezky_queue::DynQueue, args: serde_json::Value) -> JobId {
    let id = queue.push(NewJob::new("echo", args)).await.unwrap().id;
    queue.discard(&id, "made dead by the test").await.unwrap();
    id
}

#[tokio::test]
async fn pages_and_actions_need_a_session() {
    let app = spawn_app_with(None).await;
    let id = dead_job(&app.queue, json!({"n": 1})).await;
    let visitor = Visitor::new(app.addr);
    let root = visitor.get("/").await;
    assert_eq!((root.status, root.location()), (303, Some("/ui/")));
    for path in [
        "/ui/".to_owned(),
        "/ui/jobs?q=x".into(),
        format!("/ui/jobs/{id}"),
        "/ui/schedules".into(),
        "/ui/overview.json".into(),
        "/ui/bulk?action=retry".into(),
        "/ui/logout".into(),
    ] {
        let answer = visitor.get(&path).await;
        assert_eq!(
            (answer.status, answer.location()),
            (303, Some("/ui/login")),
            "{path} without a session"
        );
        assert!(!answer.body.contains(&id.0), "{path} shows nothing");
    }
    let forged = Visitor {
        cookie: Some(format!(
            "dezky_session=ops~99999999999999~00~{}",
            "0".repeat(64)
        )),
        ..Visitor::new(app.addr)
    };
    for v in [&visitor, &forged] {
        let answer = v
            .post(&format!("/ui/jobs/{id}/retry"), &[("csrf", "x")])
            .await;
        assert_eq!(answer.location(), Some("/ui/login"));
        let answer = v.post("/ui/queues/echo/pause", &[("csrf", "x")]).await;
        assert_eq!(answer.location(), Some("/ui/login"));
    }
    assert_eq!(
        app.queue.get(&id).await.unwrap().unwrap().state,
        JobState::Dead,
        "nothing was done"
    );
    assert!(app.queue.counts().await.unwrap().iter().all(|c| !c.paused));
    let login = visitor.get("/ui/login").await;
    assert_eq!(login.status, 200);
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    app.stop().await;
}

#[tokio::test]
async fn only_an_ops_token_logs_in_and_failures_are_throttled() {
    let app = spawn_app_with(None).await;
    let mut visitor = Visitor::new(app.addr);
    let portal = visitor.login(PORTAL_TOKEN).await;
    assert_eq!(portal.status, 401, "a portal token cannot log in");
    assert!(portal.headers.get("set-cookie").is_none());
    assert!(visitor.cookie.is_none());

    let ok = visitor.login(OPS_TOKEN).await;
    assert_eq!((ok.status, ok.location()), (303, Some("/ui/")));
    let cookie = ok.headers["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.contains(OPS_TOKEN),
        "the cookie does not carry the token"
    );
    let overview = visitor.get("/ui/").await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("Overview") && overview.body.contains(">ops<"));

    let logout = visitor
        .post("/ui/logout", &[("csrf", &csrf_of(&overview.body))])
        .await;
    assert_eq!(logout.location(), Some("/ui/login"));
    assert!(
        logout.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    let mut stranger = Visitor::new(app.addr);
    for _ in 0..5 {
        assert_eq!(stranger.login("not-a-token-at-all").await.status, 401);
    }
    let throttled = stranger.login(OPS_TOKEN).await;
    assert_eq!(throttled.status, 429, "even the right token waits");
    assert!(throttled.headers.contains_key("retry-after"));
    assert!(stranger.cookie.is_none());
    app.stop().await;
}

#[tokio::test]
async fn actions_need_the_csrf_token_and_are_audited() {
    let app = spawn_app_with(None).await;
    let id = dead_job(&app.queue, json!({"n": 2})).await;
    let mut visitor = Visitor::new(app.addr);
    visitor.login(OPS_TOKEN).await;
    let page = visitor.get(&format!("/ui/jobs/{id}")).await;
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    let path = format!("/ui/jobs/{id}/retry");
    assert_eq!(visitor.post(&path, &[]).await.status, 403, "no token");
    assert_eq!(
        visitor.post(&path, &[("csrf", "0123")]).await.status,
        403,
        "a wrong token"
    );
    let mut other = Visitor::new(app.addr);
    other.login(OPS_TOKEN).await;
    assert_eq!(
        other.post(&path, &[("csrf", &csrf)]).await.status,
        403,
        "another session's token"
    );
    assert_eq!(
        app.queue.get(&id).await.unwrap().unwrap().state,
        JobState::Dead
    );
    let done = visitor.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(
        (done.status, done.location()),
        (303, Some(format!("/ui/jobs/{id}").as_str()))
    );
    assert_eq!(
        app.queue.get(&id).await.unwrap().unwrap().state,
        JobState::Available
    );
    let pause = visitor
        .post("/ui/queues/echo/pause", &[("csrf", &csrf)])
        .await;
    assert_eq!(pause.status, 303);
    assert!(app.queue.counts().await.unwrap()[0].paused);
    let page = visitor.get(&format!("/ui/jobs/{id}")).await.body;
    assert!(page.contains("<td>ops</td><td>retry</td>"), "{page}");
    let overview = visitor.get("/ui/").await.body;
    assert!(overview.contains("<td>pause</td><td>queue:echo</td>"));
    assert!(overview.contains("paused"));
    app.stop().await;
}

#[tokio::test]
async fn a_secret_never_reaches_a_page() {
    let app = spawn_app_with(None).await;
    let canaries = [
        "canary-client-secret-4f1d",
        "canary-flow-token-9a7c",
        "canary-password-2b8e",
    ];
    let mut job = NewJob::new(
        "echo",
        json!({"tenant": "acme", "client_secret": canaries[0]}),
    );
    job.tenant = Some("acme".into());
    let id = app.queue.push(job).await.unwrap().id;
    let leased = app
        .queue
        .fetch(FetchRequest {
            queue: "echo".into(),
            worker: "test".into(),
            limit: 1,
            lease_ttl: std::time::Duration::from_secs(30),
        })
        .await
        .unwrap()
        .jobs
        .remove(0);
    let result = json!({
        "recovery_link": format!("https://auth.example/if/flow/recovery/?flow_token={}", canaries[1]),
        "user": {"temporary_password": canaries[2]},
    });
    app.queue
        .complete(&leased.lease, Outcome::Succeeded(result))
        .await
        .unwrap();
    let dead = dead_job(
        &app.queue,
        json!({"tenant": "acme", "password": canaries[2]}),
    )
    .await;
    let mut visitor = Visitor::new(app.addr);
    visitor.login(OPS_TOKEN).await;
    let pages = [
        "/ui/".to_owned(),
        "/ui/overview.json".into(),
        "/ui/jobs".into(),
        "/ui/jobs?q=acme".into(),
        "/ui/jobs?tenant=acme&state=succeeded".into(),
        format!("/ui/jobs/{id}"),
        format!("/ui/jobs/{dead}"),
        "/ui/schedules".into(),
        "/ui/bulk?action=delete&q=acme".into(),
    ];
    for path in &pages {
        let answer = visitor.get(path).await;
        assert_eq!(answer.status, 200, "{path}");
        for canary in canaries {
            assert!(!answer.body.contains(canary), "{canary} on {path}");
        }
    }
    let job_page = visitor.get(&format!("/ui/jobs/{id}")).await.body;
    assert!(job_page.contains("[redacted]"), "{job_page}");
    assert!(job_page.contains("acme"), "what is not secret shows");
    app.stop().await;
}

#[tokio::test]
async fn bulk_actions_confirm_then_say_how_many_they_touched() {
    let app = spawn_app_with(None).await;
    for n in 0..3 {
        dead_job(&app.queue, json!({"batch": "b-7", "n": n})).await;
    }
    let other = dead_job(&app.queue, json!({"batch": "other"})).await;
    let mut visitor = Visitor::new(app.addr);
    visitor.login(OPS_TOKEN).await;
    let confirm = visitor.get("/ui/bulk?action=retry&q=b-7").await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains("3 dead jobs will be touched"),
        "{}",
        confirm.body
    );
    assert_eq!(
        app.queue.counts().await.unwrap()[0].get(JobState::Dead),
        4,
        "confirming changes nothing"
    );
    let csrf = csrf_of(&confirm.body);
    let fields = [("csrf", csrf.as_str()), ("action", "retry"), ("q", "b-7")];
    assert_eq!(visitor.post("/ui/bulk", &fields[1..]).await.status, 403);
    let done = visitor.post("/ui/bulk", &fields).await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Retried 3 dead jobs"), "{}", done.body);
    let counts = &app.queue.counts().await.unwrap()[0];
    assert_eq!(
        (counts.get(JobState::Dead), counts.get(JobState::Available)),
        (1, 3)
    );
    let delete = visitor
        .post(
            "/ui/bulk",
            &[("csrf", &csrf), ("action", "delete"), ("queue", "echo")],
        )
        .await;
    assert!(
        delete.body.contains("Deleted 1 dead job "),
        "{}",
        delete.body
    );
    assert_eq!(app.queue.get(&other).await.unwrap(), None);
    let overview = visitor.get("/ui/").await.body;
    assert!(overview.contains("bulk-retry") && overview.contains("bulk-delete"));
    app.stop().await;
}

#[tokio::test]
async fn search_follows_cursors_to_a_rare_value_in_the_oldest_job() {
    let app = spawn_app_with(None).await;
    let rare = dead_job(&app.queue, json!({"email": "needle@example.org"})).await;
    // More jobs after it than one SQLite search request examines (20,000).
    for chunk in 0..21 {
        let jobs = (0..1000)
            .map(|n| {
                NewJob::new(
                    "echo",
                    json!({"email": format!("hay{chunk}-{n}@example.org")}),
                )
            })
            .collect();
        app.queue.push_bulk(jobs).await.unwrap();
    }
    let one_request = app
        .queue
        .list(JobFilter {
            text: Some("needle@".into()),
            limit: 50,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert!(
        one_request.jobs.is_empty() && one_request.next_cursor.is_some(),
        "one request does not reach it"
    );
    let mut visitor = Visitor::new(app.addr);
    visitor.login(OPS_TOKEN).await;
    let page = visitor.get("/ui/jobs?q=needle%40").await.body;
    assert!(page.contains(&rare.0), "found across cursors: {page}");
    assert!(page.contains("1 found; searched to the end"), "{page}");
    let by_id = visitor.get(&format!("/ui/jobs?q={rare}")).await.body;
    assert!(by_id.contains("Found by its id"));
    let bad = visitor.get("/ui/jobs?state=sleeping").await;
    assert_eq!(bad.status, 422);
    app.stop().await;
}

/// A secret result proper (sealed in the store for its enqueuer) is on no page, not even the
/// job's own; the page says one is sealed.
#[tokio::test]
async fn a_sealed_secret_result_is_on_no_page() {
    let app = common::spawn_app().await;
    let id = app.enqueue_ok(json!({"kind": "secret", "args": {}})).await;
    let done = app
        .wait_for_job(
            &id,
            std::time::Duration::from_secs(20),
            common::in_state("succeeded"),
        )
        .await;
    let password = done["secret"]["password"]
        .as_str()
        .expect("the enqueuer sees the secret")
        .to_owned();
    let mut visitor = Visitor::new(app.addr);
    visitor.login(OPS_TOKEN).await;
    for path in [
        "/ui/".to_owned(),
        "/ui/overview.json".into(),
        "/ui/jobs".into(),
        "/ui/jobs?state=succeeded".into(),
        format!("/ui/jobs?q={id}"),
        format!("/ui/jobs/{id}"),
    ] {
        let answer = visitor.get(&path).await;
        assert_eq!(answer.status, 200, "{path}");
        assert!(!answer.body.contains(&password), "the secret on {path}");
    }
    let page = visitor.get(&format!("/ui/jobs/{id}")).await.body;
    assert!(page.contains("A secret result is sealed"), "{page}");
    app.stop().await;
}

/// The schedules page lists the actions on schedules however many actions on jobs came after.
#[tokio::test]
async fn the_schedules_page_shows_schedule_actions_behind_many_job_actions() {
    let app = spawn_app_with(None).await;
    let entry = |at, action: &str, target: &str| dezky_store::AuditEntry {
        at,
        actor: "ops".into(),
        action: action.into(),
        target: target.into(),
        detail: String::new(),
    };
    app.store
        .record_action(&entry(1, "run-now", "schedule:reconcile"))
        .await
        .unwrap();
    for n in 0..60 {
        let job = JobId::generate();
        app.store
            .record_action(&entry(2 + n, "retry", &job.0))
            .await
            .unwrap();
    }
    let mut visitor = Visitor::new(app.addr);
    visitor.login(OPS_TOKEN).await;
    let page = visitor.get("/ui/schedules").await.body;
    assert!(
        page.contains("<td>run-now</td><td>schedule:reconcile</td>"),
        "{page}"
    );
    app.stop().await;
}
