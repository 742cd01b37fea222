//! The HTTP API end to end: enqueue and status, bad input, auth, idempotency, search, admin
//! routes, and the OpenAPI document.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use common::{CRM_TOKEN, OPS_TOKEN, PORTAL_TOKEN, in_state, spawn_app, spawn_app_with};
use serde_json::{Value, json};

#[tokio::test]
async fn echo_job_succeeds_with_its_args_as_result() {
    let app = spawn_app().await;
    let response = app
        .enqueue(json!({"kind": "echo", "args": {"hello": "world"}}))
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(body["status_url"], format!("/v1/jobs/{id}"));
    let job = app
        .wait_for_job(id, Duration::from_secs(10), in_state("succeeded"))
        .await;
    assert_eq!(job["result"], json!({"hello": "world"}));
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["enqueued_by"], "portal");
    assert_eq!(job["errors"], json!([]));
    app.stop().await;
}

/// Every kind of bad input gets a 4xx problem+json, never a 5xx.
#[tokio::test]
async fn bad_input_gets_a_4xx_problem() {
    let app = spawn_app_with(None).await;
    let url = app.url("/v1/jobs");
    let c = &app.client;
    let json_ct = ("content-type", "application/json");
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "missing token",
            c.post(&url)
                .header(json_ct.0, json_ct.1)
                .body(r#"{"kind":"echo"}"#),
            401,
        ),
        (
            "wrong token",
            c.post(&url)
                .bearer_auth("wrong-token")
                .header(json_ct.0, json_ct.1)
                .body(r#"{"kind":"echo"}"#),
            401,
        ),
        (
            "unknown kind",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .json(&json!({"kind": "nope", "args": {}})),
            422,
        ),
        (
            "malformed JSON",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .header(json_ct.0, json_ct.1)
                .body("{\"kind\": "),
            400,
        ),
        (
            "wrong field type",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .json(&json!({"kind": "echo", "priority": "high"})),
            422,
        ),
        (
            "args that do not fit",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .json(&json!({"kind": "sleep", "args": {"ms": -1}})),
            422,
        ),
        (
            "unknown field",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .json(&json!({"kind": "echo", "prio": 1})),
            422,
        ),
        (
            "bad run_at",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .json(&json!({"kind": "echo", "run_at": "tomorrow"})),
            422,
        ),
        (
            "zero attempts",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .json(&json!({"kind": "echo", "max_attempts": 0})),
            422,
        ),
        (
            "not JSON",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .header("content-type", "text/plain")
                .body("kind=echo"),
            415,
        ),
        (
            "empty body",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .header(json_ct.0, json_ct.1),
            400,
        ),
        (
            "10 MB body",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .header(json_ct.0, json_ct.1)
                .body(vec![b' '; 10 * 1024 * 1024]),
            413,
        ),
        (
            "bad idempotency key",
            c.post(&url)
                .bearer_auth(PORTAL_TOKEN)
                .header("idempotency-key", "")
                .json(&json!({"kind": "echo"})),
            400,
        ),
        (
            "bad query",
            c.get(&url)
                .bearer_auth(PORTAL_TOKEN)
                .query(&[("limit", "many")]),
            400,
        ),
        (
            "bad state filter",
            c.get(&url)
                .bearer_auth(PORTAL_TOKEN)
                .query(&[("state", "done")]),
            422,
        ),
        (
            "bad cursor",
            c.get(&url)
                .bearer_auth(PORTAL_TOKEN)
                .query(&[("cursor", "x")]),
            422,
        ),
        (
            "unknown job",
            c.get(app.url("/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV"))
                .bearer_auth(PORTAL_TOKEN),
            404,
        ),
        (
            "garbage job id",
            c.get(app.url("/v1/jobs/..%2f")).bearer_auth(PORTAL_TOKEN),
            404,
        ),
        (
            "portal token on admin",
            c.get(app.url("/v1/queues")).bearer_auth(PORTAL_TOKEN),
            403,
        ),
        ("unknown route", c.get(app.url("/v2/nothing")), 404),
        (
            "wrong method",
            c.delete(&url).bearer_auth(PORTAL_TOKEN),
            405,
        ),
    ];
    for (name, request, expected) in cases {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
        assert_eq!(status, expected, "{name}: {body}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{name}"
        );
        assert_eq!(body["status"], expected, "{name}");
        assert!(body["title"].is_string(), "{name}");
    }
    let _ = app.stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_and_rejects_a_changed_body() {
    let app = spawn_app_with(None).await;
    let send = |key: &'static str, body: Value| {
        app.client
            .post(app.url("/v1/jobs"))
            .bearer_auth(PORTAL_TOKEN)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let body = json!({"kind": "echo", "args": {"a": 1, "b": 2}});
    let first = send("key-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_id = first.json::<Value>().await.unwrap()["id"].clone();
    // Same body, keys in another order: a replay.
    let again = send("key-1", json!({"args": {"b": 2, "a": 1}, "kind": "echo"}))
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], first_id);
    let changed = send("key-1", json!({"kind": "echo", "args": {"a": 2}}))
        .await
        .unwrap();
    assert_eq!(changed.status(), 422);
    // The key is scoped per kind.
    let other_kind = send("key-1", json!({"kind": "noop"})).await.unwrap();
    assert_eq!(other_kind.status(), 202);
    assert_ne!(other_kind.json::<Value>().await.unwrap()["id"], first_id);
    app.stop().await;
}

#[tokio::test]
async fn search_filters_pages_and_omits_results() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let tenant = if n < 2 { "acme" } else { "globex" };
        ids.push(app.enqueue_ok(json!({"kind": "echo", "tenant": tenant, "args": {"mail": format!("u{n}@example.org")}})).await);
    }
    for id in &ids {
        app.wait_for_job(id, Duration::from_secs(10), in_state("succeeded"))
            .await;
    }
    let list = |query: Vec<(&'static str, String)>| {
        let req = app
            .client
            .get(app.url("/v1/jobs"))
            .bearer_auth(PORTAL_TOKEN)
            .query(&query);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let all = list(vec![("kind", "echo".into())]).await;
    assert_eq!(all["jobs"].as_array().unwrap().len(), 5);
    assert!(
        all["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j.get("result").is_none()),
        "lists carry no results"
    );
    assert_eq!(
        list(vec![("tenant", "acme".into())]).await["jobs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let text = list(vec![("q", "u3@".into())]).await;
    assert_eq!(text["jobs"][0]["id"], ids[3].as_str());
    let page1 = list(vec![("limit", "3".into()), ("state", "succeeded".into())]).await;
    assert_eq!(page1["jobs"].as_array().unwrap().len(), 3);
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let page2 = list(vec![
        ("limit", "3".into()),
        ("state", "succeeded".into()),
        ("cursor", cursor),
    ])
    .await;
    assert_eq!(page2["jobs"].as_array().unwrap().len(), 2);
    assert!(page2["next_cursor"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn admin_routes_cancel_discard_retry_and_pause() {
    let app = spawn_app().await;
    let ops = |path: String| {
        app.client
            .post(app.url(&path))
            .bearer_auth(OPS_TOKEN)
            .send()
    };
    let later = json!({"kind": "echo", "run_at": "2999-01-01T00:00:00Z"});

    let cancelled = app.enqueue_ok(later.clone()).await;
    let r = ops(format!("/v1/jobs/{cancelled}/cancel")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "cancelled");
    assert_eq!(
        ops(format!("/v1/jobs/{cancelled}/cancel"))
            .await
            .unwrap()
            .status(),
        409
    );

    let discarded = app.enqueue_ok(later).await;
    let r = app
        .client
        .post(app.url(&format!("/v1/jobs/{discarded}/discard")))
        .bearer_auth(OPS_TOKEN)
        .json(&json!({"reason": "tenant gone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["state"], "dead");
    assert_eq!(job["errors"][0]["class"], "discarded");
    assert_eq!(job["errors"][0]["message"], "discarded by ops: tenant gone");

    // Retry now brings the discarded job back, and a worker finishes it.
    let r = ops(format!("/v1/jobs/{discarded}/retry")).await.unwrap();
    assert_eq!(r.status(), 200);
    app.wait_for_job(&discarded, Duration::from_secs(10), in_state("succeeded"))
        .await;

    // Pausing a queue holds its jobs; resuming lets them run.
    let r = ops("/v1/queues/echo/pause".into()).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["paused"], true);
    let held = app.enqueue_ok(json!({"kind": "echo"})).await;
    let queues: Value = app
        .client
        .get(app.url("/v1/queues"))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let echo = queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "echo")
        .unwrap()
        .clone();
    assert_eq!(echo["paused"], true);
    assert_eq!(app.job(&held).await["state"], "available");
    ops("/v1/queues/echo/resume".into()).await.unwrap();
    app.wait_for_job(&held, Duration::from_secs(10), in_state("succeeded"))
        .await;
    assert_eq!(
        ops("/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/retry".into())
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn probes_answer_without_a_token() {
    let app = spawn_app_with(None).await;
    for path in ["/healthz", "/readyz"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    app.stop().await;
}

/// The document lists every route with its statuses and problem responses, and every kind's args.
#[tokio::test]
async fn openapi_describes_every_route() {
    let app = spawn_app_with(None).await;
    let doc = openapi(&app).await;
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/jobs", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/jobs/{id}/retry", "post"),
        ("/v1/jobs/{id}/discard", "post"),
        ("/v1/jobs/{id}/cancel", "post"),
        ("/v1/queues", "get"),
        ("/v1/queues/{queue}/pause", "post"),
        ("/v1/queues/{queue}/resume", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let enqueue = &doc["paths"]["/v1/jobs"]["post"]["responses"];
    for status in ["202", "400", "401", "413", "415", "422"] {
        assert!(enqueue.get(status).is_some(), "enqueue lacks {status}");
    }
    assert!(
        enqueue["422"]["content"]
            .get("application/problem+json")
            .is_some()
    );
    assert!(
        doc["paths"]["/v1/jobs/{id}"]["get"]["responses"]
            .get("404")
            .is_some()
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "Problem",
        "EnqueueRequest",
        "JobView",
        "SleepArgs",
        "EchoArgs",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
    app.stop().await;
}

#[tokio::test]
async fn a_caller_reads_and_lists_only_its_own_jobs() {
    let app = spawn_app().await;
    let mine = app
        .enqueue_ok(json!({"kind": "echo", "args": {"who": "portal"}}))
        .await;
    app.wait_for_job(&mine, Duration::from_secs(10), in_state("succeeded"))
        .await;
    let get = |token: &'static str| {
        let req = app
            .client
            .get(app.url(&format!("/v1/jobs/{mine}")))
            .bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    let list = |token: &'static str| {
        let req = app.client.get(app.url("/v1/jobs")).bearer_auth(token);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let theirs = get(CRM_TOKEN).await;
    assert_eq!(theirs.status(), 404, "another caller's job is not found");
    assert_eq!(theirs.headers()["content-type"], "application/problem+json");
    assert!(list(CRM_TOKEN).await.is_empty(), "nor listed");
    assert_eq!(get(PORTAL_TOKEN).await.status(), 200);
    assert_eq!(list(PORTAL_TOKEN).await, vec![mine.clone()]);
    // Ops see every job.
    assert_eq!(get(OPS_TOKEN).await.status(), 200);
    assert_eq!(list(OPS_TOKEN).await, vec![mine.clone()]);
    app.stop().await;
}

/// The document states the rules the server enforces (one enqueue variant per kind with its args
/// schema, bounds, the cursor's form), and the server accepts what the document allows (a
/// `null` discard body) and refuses what it does not (a page size out of bounds).
#[tokio::test]
async fn the_document_and_the_server_agree() {
    let app = spawn_app().await;
    let doc = openapi(&app).await;
    let variants = doc["components"]["schemas"]["EnqueueRequest"]["oneOf"]
        .as_array()
        .unwrap();
    let sleep = variants
        .iter()
        .find(|v| v["properties"]["kind"]["const"] == "sleep")
        .expect("a variant for `sleep`");
    assert_eq!(
        sleep["required"],
        json!(["kind", "args"]),
        "sleep's args require `ms`"
    );
    assert_eq!(sleep["properties"]["max_attempts"]["minimum"], 1);
    let cursor = doc["paths"]["/v1/jobs"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cursor")
        .unwrap();
    assert_eq!(cursor["schema"]["pattern"], "^[0-9]{1,18}$");

    let id = app
        .enqueue_ok(
            json!({"kind": "sleep", "args": {"ms": 60_000}, "run_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    let discard = app
        .client
        .post(app.url(&format!("/v1/jobs/{id}/discard")))
        .bearer_auth(OPS_TOKEN)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    assert_eq!(discard.status(), 200, "a null body is no reason");
    let too_big = app
        .client
        .get(app.url("/v1/jobs?limit=501"))
        .bearer_auth(PORTAL_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 422);
    app.stop().await;
}

/// The app's OpenAPI document.
async fn openapi(app: &common::TestApp) -> Value {
    app.client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
