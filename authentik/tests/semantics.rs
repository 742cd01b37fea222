//! The simulator behaves like Authentik where our jobs can tell the difference (API-NOTES §1–§5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use dezky_authentik::client::models::{NewFlow, NewUser};
use dezky_authentik::{AuthentikClient, AuthentikError, ClientConfig};
use dezky_authentik_sim::SimConfig;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

async fn raw(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client.get(url);
    if let Some(t) = token {
        request = request.header("authorization", t);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn missing_or_bad_tokens_get_403_with_authentiks_messages() {
    let (sim, _) = common::start(SimConfig::new(common::TOKEN)).await;
    let http = reqwest::Client::new();
    let url = format!("{}/core/users/", sim.api_url());
    assert_eq!(
        raw(&http, &url, None).await,
        (
            403,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
    assert_eq!(
        raw(&http, &url, Some("Bearer nope")).await,
        (403, json!({"detail": "Token invalid/expired"}))
    );
    assert_eq!(
        raw(&http, &url, Some("Basic abc")).await,
        (403, json!({"detail": "Unsupported authentication type"}))
    );
    assert_eq!(
        raw(&http, &url, Some(&format!("bearer {}", common::TOKEN)))
            .await
            .0,
        200,
        "the scheme is case-insensitive"
    );
    let config = ClientConfig::new(&sim.api_url(), "wrong-secret-token");
    assert!(
        !format!("{config:?}").contains("wrong-secret-token"),
        "Debug redacts the token"
    );
    let wrong = AuthentikClient::new(config).unwrap();
    assert!(!format!("{wrong:?}").contains("wrong-secret-token"));
    let e = wrong.version().await.unwrap_err();
    assert!(
        matches!(e, AuthentikError::Forbidden(_)) && !e.is_transient(),
        "{e:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn pages_are_numbered_and_the_helper_follows_them() {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {}", common::TOKEN);
    let (status, first) = raw(
        &http,
        &format!("{}/stages/all/?page_size=3", sim.api_url()),
        Some(&bearer),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(first["pagination"]["next"], 2);
    assert_eq!(first["pagination"]["previous"], 0);
    let total = first["pagination"]["count"].as_u64().unwrap();
    let (status, past) = raw(
        &http,
        &format!("{}/stages/all/?page=99", sim.api_url()),
        Some(&bearer),
    )
    .await;
    assert_eq!((status, past), (404, json!({"detail": "Invalid page."})));
    for n in 0..120 {
        client
            .create_user(&NewUser {
                username: format!("u{n}"),
                name: String::new(),
                email: None,
                groups: vec![],
                attributes: None,
            })
            .await
            .unwrap();
    }
    let users: Vec<Value> = client.list_all("/core/users/", &[]).await.unwrap();
    assert_eq!(users.len(), 120, "two pages of 100 followed");
    assert!(total >= 7);
    sim.stop().await;
}

#[tokio::test]
async fn duplicates_are_400_field_errors_and_patch_replaces_attributes_whole() {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    let new = NewUser {
        username: "ops".into(),
        name: "".into(),
        email: None,
        groups: vec![],
        attributes: Some(json!({"one": 1, "two": 2})),
    };
    let user = client.create_user(&new).await.unwrap();
    match client.create_user(&new).await.unwrap_err() {
        AuthentikError::Invalid(e) => assert!(e.has("username"), "{e}"),
        other => panic!("{other:?}"),
    }
    let patched = client
        .set_user_attributes(user.pk, &json!({"three": 3}))
        .await
        .unwrap();
    assert_eq!(patched.attributes, json!({"three": 3}), "no deep merge");
    match client.user(999).await.unwrap_err() {
        AuthentikError::NotFound(detail) => assert_eq!(detail, "No User matches the given query."),
        other => panic!("{other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn recovery_follows_the_brand_of_the_request_host() {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    let user = client
        .create_user(&NewUser {
            username: "op".into(),
            name: "".into(),
            email: None,
            groups: vec![],
            attributes: None,
        })
        .await
        .unwrap();
    // A fresh instance: the default brand has no recovery flow, and the error is a string.
    match client.recovery_link(user.pk).await.unwrap_err() {
        AuthentikError::Invalid(e) => {
            assert_eq!(e.non_field, vec!["No recovery flow set.".to_owned()])
        }
        other => panic!("{other:?}"),
    }
    let flow = client
        .create_flow(&NewFlow {
            name: "r".into(),
            slug: "tenant-recovery".into(),
            title: "r".into(),
            designation: "recovery".into(),
            authentication: Some("require_unauthenticated".into()),
        })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/core/brands/", sim.api_url()))
        .bearer_auth(common::TOKEN)
        .json(&json!({"domain": "customer.example.com", "flow_recovery": flow.pk}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut public = ClientConfig::new(&sim.api_url(), common::TOKEN);
    public.public_host = Some("auth.customer.example.com".into());
    let tenant = AuthentikClient::new(public).unwrap();
    let link = tenant.recovery_link(user.pk).await.unwrap();
    assert!(
        link.link
            .expose_secret()
            .starts_with("http://auth.customer.example.com/if/flow/tenant-recovery/?flow_token="),
        "the link is built from the request's Host"
    );
    assert!(
        client.recovery_link(user.pk).await.is_err(),
        "other hosts still resolve to the default brand"
    );
    assert!(
        !format!("{link:?}").contains("flow_token"),
        "Debug never shows the link"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_fresh_instance_applies_its_blueprints_after_a_while() {
    let mut config = SimConfig::new(common::TOKEN);
    config.blueprints_after = Duration::from_millis(300);
    let (sim, client) = common::start(config).await;
    assert!(matches!(
        client.stage_named("default-password-change-prompt").await,
        Err(AuthentikError::NotFound(_))
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if client
            .stage_named("default-password-change-prompt")
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the blueprints never applied"
        );
    }
    sim.stop().await;
}

#[tokio::test]
async fn objects_survive_a_restart_on_the_same_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SimConfig::new(common::TOKEN);
    config.state_file = Some(dir.path().join("state.json"));
    let (sim, client) = common::start(config.clone()).await;
    let user = client
        .create_user(&NewUser {
            username: "kept".into(),
            name: "".into(),
            email: None,
            groups: vec![],
            attributes: None,
        })
        .await
        .unwrap();
    sim.stop().await;
    let (again, client) = common::start(config).await;
    assert_eq!(
        client.user_named("kept").await.unwrap().map(|u| u.pk),
        Some(user.pk)
    );
    assert_eq!(
        client.brands(true).await.unwrap().len(),
        1,
        "defaults are not applied twice"
    );
    again.stop().await;
}
