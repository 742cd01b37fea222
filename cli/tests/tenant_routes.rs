//! The routes of the Authentik jobs, through the real application (no Authentik: the jobs stay
//! queued): tenants are stored and their provisioning enqueued, with `Idempotency-Key`
//! replays, a conflicting create refused and a `PUT` that changes the desired state; invites
//! and the seeding are enqueued from their routes; `POST /v1/jobs` refuses these kinds and names
//! the route.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use common::{PORTAL_TOKEN, TestApp, spawn_app};
use serde_json::{Value, json};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(PORTAL_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        replayed,
    )
}

fn acme() -> Value {
    json!({"slug": "acme", "name": "ACME", "domain": "auth.acme.example",
           "redirect_uris": ["https://mail.acme.example/oidc"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_stored_and_provisioned_through_their_routes() {
    let app = spawn_app().await;
    use reqwest::Method;
    let (status, problem, _) = send(
        &app,
        Method::POST,
        "/v1/jobs",
        Some(json!({"kind": "provision-tenant", "args": acme()})),
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("POST /v1/tenants"),
        "{problem}"
    );

    let (status, created, _) =
        send(&app, Method::POST, "/v1/tenants", Some(acme()), Some("k1")).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let job = app.job(&id).await;
    assert_eq!(
        (&job["kind"], &job["tenant"]),
        (&json!("provision-tenant"), &json!("acme"))
    );
    let (status, replay, replayed) =
        send(&app, Method::POST, "/v1/tenants", Some(acme()), Some("k1")).await;
    assert_eq!(
        (status, replay["id"].as_str(), replayed),
        (202, Some(id.as_str()), true)
    );

    let (status, tenant, _) = send(&app, Method::GET, "/v1/tenants/acme", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(tenant["desired"], acme());
    assert_eq!(tenant["last_job"]["id"], json!(id), "{tenant}");
    let mut other = acme();
    other["name"] = json!("ACME Ltd");
    let (status, _, _) = send(&app, Method::POST, "/v1/tenants", Some(other.clone()), None).await;
    assert_eq!(status, 409, "a create does not change an existing tenant");
    let (status, _, _) = send(
        &app,
        Method::PUT,
        "/v1/tenants/acme",
        Some(other.clone()),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let (_, tenant, _) = send(&app, Method::GET, "/v1/tenants/acme", None, None).await;
    assert_eq!(tenant["name"], "ACME Ltd");
    assert_ne!(
        tenant["last_job"]["id"],
        json!(id),
        "the change's job is the newest"
    );
    // The path names the tenant: a body without a slug is the documented form.
    let mut unnamed = other.clone();
    unnamed.as_object_mut().unwrap().remove("slug");
    unnamed["name"] = json!("ACME Group");
    let (status, _, _) = send(&app, Method::PUT, "/v1/tenants/acme", Some(unnamed), None).await;
    assert_eq!(status, 202);
    let (_, tenant, _) = send(&app, Method::GET, "/v1/tenants/acme", None, None).await;
    assert_eq!(
        (&tenant["name"], &tenant["desired"]["slug"]),
        (&json!("ACME Group"), &json!("acme"))
    );
    let (status, _, _) = send(&app, Method::PUT, "/v1/tenants/other", Some(other), None).await;
    assert_eq!(status, 422, "the body's slug must be the path's");
    let mut bad = acme();
    bad["slug"] = json!("Not A Slug");
    let (status, _, _) = send(&app, Method::POST, "/v1/tenants", Some(bad), None).await;
    assert_eq!(status, 422);
    let (status, _, _) = send(&app, Method::GET, "/v1/tenants/nobody", None, None).await;
    assert_eq!(status, 404);
    let (status, list, _) = send(&app, Method::GET, "/v1/tenants?limit=10", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["tenants"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_and_the_seeding_are_enqueued_from_their_routes() {
    let app = spawn_app().await;
    use reqwest::Method;
    let invite = json!({"email": "ops@acme.example", "name": "Ops", "groups": ["operators"]});
    let (status, enqueued, _) = send(
        &app,
        Method::POST,
        "/v1/operators/invite",
        Some(invite),
        None,
    )
    .await;
    assert_eq!(status, 202, "{enqueued}");
    let job = app.job(enqueued["id"].as_str().unwrap()).await;
    assert_eq!(job["kind"], "invite-operator");
    let (status, _, _) = send(
        &app,
        Method::POST,
        "/v1/operators/invite",
        Some(json!({"email": "not an email", "name": "X"})),
        None,
    )
    .await;
    assert_eq!(status, 422);
    let too_many: Vec<String> = (0..21).map(|n| format!("group-{n}")).collect();
    for bad in [
        json!({"email": "a@acme.example", "name": "A", "tenant": "Not A Slug"}),
        json!({"email": "a@acme.example", "name": "A", "groups": [""]}),
        json!({"email": "a@acme.example", "name": "A", "groups": ["line\nbreak"]}),
        json!({"email": "a@acme.example", "name": "A", "groups": too_many}),
        json!({"email": "a@acme.example", "name": "A", "groups": ["authentik Admins"]}),
        json!({"email": "a@acme.example", "name": "A", "groups": ["dezky-tenant-other"]}),
    ] {
        let (status, problem, _) = send(
            &app,
            Method::POST,
            "/v1/operators/invite",
            Some(bad.clone()),
            None,
        )
        .await;
        assert_eq!(status, 422, "{bad}: {problem}");
    }
    let (status, enqueued, _) =
        send(&app, Method::POST, "/v1/seed/recovery-flow", None, None).await;
    assert_eq!(status, 202);
    let job = app.job(enqueued["id"].as_str().unwrap()).await;
    assert_eq!(job["kind"], "seed-recovery-flow");
}
