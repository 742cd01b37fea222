//! Every request body the client sends and every response the simulator gives, over a scenario
//! that walks the seed-recovery-flow and invite-operator calls, validated against Authentik's
//! OpenAPI schema (release 2025.12).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use dezky_authentik::client::models::{
    NewApplication, NewBrand, NewExpressionPolicy, NewFlow, NewFlowStageBinding, NewGroup,
    NewOAuth2Provider, NewPolicyBinding, NewUser, RedirectUri,
};
use dezky_authentik_sim::SimConfig;
use secrecy::SecretString;
use serde_json::json;

#[tokio::test]
async fn client_requests_and_simulator_answers_fit_the_schema() {
    let mut config = SimConfig::new(common::TOKEN);
    config.record = true;
    let (sim, client) = common::start(config).await;

    // seed-recovery-flow
    assert_eq!(client.version().await.unwrap().version_current, "2025.12.4");
    assert!(
        !client
            .blueprints_named("Default - Brand")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        client
            .flows_by_designation("recovery")
            .await
            .unwrap()
            .is_empty()
    );
    let new_flow = NewFlow {
        name: "Dezky recovery".into(),
        slug: "default-dezky-recovery".into(),
        title: "Reset your password".into(),
        designation: "recovery".into(),
        authentication: Some("require_unauthenticated".into()),
    };
    let flow = client.find_or_create_flow(&new_flow).await.unwrap();
    assert_eq!(
        client.find_or_create_flow(&new_flow).await.unwrap().pk,
        flow.pk,
        "found, not duplicated"
    );
    let prompt = client
        .stage_named("default-password-change-prompt")
        .await
        .unwrap();
    let write = client
        .stage_named("default-password-change-write")
        .await
        .unwrap();
    for (stage, order) in [(&prompt, 30), (&write, 40)] {
        let binding = NewFlowStageBinding {
            target: flow.pk.clone(),
            stage: stage.pk.clone(),
            order,
            evaluate_on_plan: Some(false),
            re_evaluate_policies: Some(true),
        };
        let bound = client.find_or_bind_stage(&binding).await.unwrap();
        assert_eq!(
            client.find_or_bind_stage(&binding).await.unwrap().pk,
            bound.pk
        );
        let guard = client
            .find_or_create_expression_policy(&NewExpressionPolicy {
                name: "dezky-recovery-guard".into(),
                expression: "return bool(request.context.get(\"is_restored\"))".into(),
            })
            .await
            .unwrap();
        let policy_binding = NewPolicyBinding {
            target: bound.pk.clone(),
            policy: Some(guard.pk),
            group: None,
            order: 0,
        };
        let first = client.find_or_bind_policy(&policy_binding).await.unwrap();
        assert_eq!(
            client
                .find_or_bind_policy(&policy_binding)
                .await
                .unwrap()
                .pk,
            first.pk
        );
    }
    let bound = client.flow_bindings(&flow.pk).await.unwrap();
    assert_eq!(bound.len(), 2);
    assert_eq!(
        client.flow_binding(&bound[0].pk).await.unwrap().target,
        flow.pk
    );
    client
        .set_flow_authentication(&flow.slug, "require_unauthenticated")
        .await
        .unwrap();
    let brand = client.brands(true).await.unwrap().remove(0);
    assert_eq!(
        brand.flow_recovery, None,
        "a fresh instance has no recovery flow"
    );
    let brand = client
        .set_brand_recovery_flow(&brand.brand_uuid, Some(&flow.pk))
        .await
        .unwrap();
    assert_eq!(brand.flow_recovery.as_deref(), Some(flow.pk.as_str()));

    // invite-operator
    let group = client
        .find_or_create_group(&NewGroup {
            name: "acme-operators".into(),
        })
        .await
        .unwrap();
    let new_user = NewUser {
        username: "ops@acme".into(),
        name: "Acme Ops".into(),
        email: Some("ops@acme.example".into()),
        groups: vec![],
        attributes: Some(json!({"tenant": "acme"})),
    };
    let user = client.find_or_create_user(&new_user).await.unwrap();
    assert_eq!(
        client.find_or_create_user(&new_user).await.unwrap().pk,
        user.pk
    );
    client.add_user_to_group(&group.pk, user.pk).await.unwrap();
    client.add_user_to_group(&group.pk, user.pk).await.unwrap();
    assert_eq!(
        client.group(&group.pk).await.unwrap().name,
        "acme-operators"
    );
    // The nested objects are filled on both sides, once.
    let shown: serde_json::Value = client
        .list_all::<serde_json::Value>("/core/users/", &[("username", &user.username)])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(shown["groups_obj"][0]["name"], "acme-operators", "{shown}");
    assert_eq!(shown["groups_obj"].as_array().unwrap().len(), 1);
    let members: serde_json::Value = client
        .list_all::<serde_json::Value>("/core/groups/", &[("name", "acme-operators")])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(members["users_obj"][0]["pk"], user.pk, "{members}");
    let link = client.recovery_link(user.pk).await.unwrap();
    assert!(
        secrecy::ExposeSecret::expose_secret(&link.link)
            .contains("/if/flow/default-dezky-recovery/?flow_token=")
    );
    client
        .set_password(
            user.pk,
            &SecretString::from("correct horse battery staple".to_owned()),
        )
        .await
        .unwrap();
    let mut attributes = client.user(user.pk).await.unwrap().attributes;
    attributes["passwordExpired"] = json!(true);
    client
        .set_user_attributes(user.pk, &attributes)
        .await
        .unwrap();
    assert_eq!(
        client
            .scope_mappings(&["goauthentik.io/providers/oauth2/scope-openid"])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        client
            .certificate_named("authentik Self-signed Certificate")
            .await
            .unwrap()
            .is_some()
    );
    let bindings = client
        .policy_bindings(&client.flow_bindings(&flow.pk).await.unwrap()[0].pk)
        .await
        .unwrap();
    client.delete_policy_binding(&bindings[0].pk).await.unwrap();
    client
        .unbind_stage(&client.flow_bindings(&flow.pk).await.unwrap()[0].pk)
        .await
        .unwrap();

    assert!(
        client
            .send_recovery_email(user.pk, &prompt.pk)
            .await
            .is_err(),
        "not an email stage"
    );

    // provision-tenant
    let tenant_brand = NewBrand {
        domain: "acme.example.com".into(),
        flow_authentication: Some(client.flow("default-authentication-flow").await.unwrap().pk),
        flow_invalidation: Some(client.flow("default-invalidation-flow").await.unwrap().pk),
        flow_recovery: Some(flow.pk.clone()),
        flow_user_settings: Some(client.flow("default-user-settings-flow").await.unwrap().pk),
    };
    let brand = client.find_or_create_brand(&tenant_brand).await.unwrap();
    assert_eq!(
        client
            .find_or_create_brand(&tenant_brand)
            .await
            .unwrap()
            .brand_uuid,
        brand.brand_uuid
    );
    let mappings: Vec<String> = client
        .scope_mappings(&[
            "goauthentik.io/providers/oauth2/scope-openid",
            "goauthentik.io/providers/oauth2/scope-email",
            "goauthentik.io/providers/oauth2/scope-profile",
        ])
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.pk)
        .collect();
    assert_eq!(mappings.len(), 3);
    let new_provider = NewOAuth2Provider {
        name: "acme".into(),
        authorization_flow: client
            .flow("default-provider-authorization-implicit-consent")
            .await
            .unwrap()
            .pk,
        invalidation_flow: client
            .flow("default-provider-invalidation-flow")
            .await
            .unwrap()
            .pk,
        redirect_uris: vec![RedirectUri {
            matching_mode: "strict".into(),
            url: "https://acme.example.com/callback".into(),
        }],
        property_mappings: mappings,
        signing_key: client
            .certificate_named("authentik Self-signed Certificate")
            .await
            .unwrap()
            .map(|c| c.pk),
    };
    let provider = client
        .find_or_create_oauth2_provider(&new_provider)
        .await
        .unwrap();
    assert_eq!(
        client
            .find_or_create_oauth2_provider(&new_provider)
            .await
            .unwrap()
            .pk,
        provider.pk
    );
    assert!(client.application("acme").await.unwrap().is_none());
    let new_app = NewApplication {
        name: "Acme".into(),
        slug: "acme".into(),
        provider: Some(provider.pk),
        meta_launch_url: Some("https://acme.example.com/".into()),
    };
    let app = client.find_or_create_application(&new_app).await.unwrap();
    assert_eq!(
        client
            .find_or_create_application(&new_app)
            .await
            .unwrap()
            .pk,
        app.pk
    );
    let provider = client
        .update_oauth2_provider(
            provider.pk,
            &json!({"redirect_uris": [{"matching_mode": "strict", "url": "https://acme.example.com/cb2"}]}),
        )
        .await
        .unwrap();
    assert_eq!(provider.redirect_uris.len(), 1);
    let renamed = client
        .update_application(
            "acme",
            &json!({"name": "Acme Ltd", "provider": provider.pk}),
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.provider),
        ("Acme Ltd", Some(provider.pk))
    );
    let access = NewPolicyBinding {
        target: app.pk.clone(),
        policy: None,
        group: Some(group.pk.clone()),
        order: 0,
    };
    client.find_or_bind_policy(&access).await.unwrap();
    assert!(
        !format!("{provider:?}").contains(secrecy::ExposeSecret::expose_secret(
            &provider.client_secret
        )),
        "Debug redacts the client secret"
    );

    let spare = client
        .find_or_create_expression_policy(&NewExpressionPolicy {
            name: "spare".into(),
            expression: "return True".into(),
        })
        .await
        .unwrap();
    client.delete_expression_policy(&spare.pk).await.unwrap();

    let spec = common::spec();
    let exchanges = sim.sim.recorder.exchanges();
    let mut problems = Vec::new();
    for x in &exchanges {
        if let Some(body) = &x.request
            && let Err(e) = spec.check_request(&x.method, &x.path, body)
        {
            problems.push(format!("request {} {}: {e:?}", x.method, x.path));
        }
        let body = x.response.clone().unwrap_or(serde_json::Value::Null);
        // Detail routes answer 404 for unknown objects whether or not the operation documents it.
        let undocumented_404 =
            x.status == 404 && spec.check_response(&x.method, &x.path, 404, &body).is_err();
        let checked = if undocumented_404 {
            spec.check_named(
                "GenericError",
                &body,
                dezky_authentik::openapi::Direction::Response,
            )
        } else {
            spec.check_response(&x.method, &x.path, x.status, &body)
        };
        if let Err(e) = checked {
            problems.push(format!(
                "response {} {} {}: {e:?}",
                x.method, x.path, x.status
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} exchanges do not fit:\n{}",
        problems.len(),
        exchanges.len(),
        problems.join("\n")
    );
    assert!(
        exchanges.len() >= 30,
        "the scenario covered {} exchanges",
        exchanges.len()
    );
    assert!(
        exchanges.iter().any(|x| x.status == 400),
        "duplicate answers were validated too"
    );
    sim.stop().await;
}
