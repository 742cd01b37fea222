//! Semantic duplicates among Authentik's objects (the simulator's state file, or the same lists
//! read from a real Authentik): what the jobs must create once however often they run, keyed as
//! Authentik's own identity of it — one brand per domain, one group, provider and application per
//! name (slug), one user per e-mail, one stage binding per (flow, stage), one policy binding per
//! (target, group | policy | user), and no redirect URI twice in a provider.

use std::collections::BTreeMap;

use serde_json::Value;

/// What `objects[list]` holds more than once, by `key`: one line per repeated key.
fn repeated(
    objects: &Value,
    list: &str,
    what: &str,
    key: impl Fn(&Value) -> Option<String>,
) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for object in objects[list]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(k) = key(object) {
            *seen.entry(k).or_default() += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, n)| format!("{n} {what} {k}"))
        .collect()
}

fn text(v: &Value, field: &str) -> Option<String> {
    v[field]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Every semantic duplicate in `objects` (the simulator's `Objects` as JSON).
pub fn semantic_duplicates(objects: &Value) -> Vec<String> {
    let mut found = Vec::new();
    found.extend(repeated(objects, "brands", "brands for domain", |b| {
        text(b, "domain")
    }));
    found.extend(repeated(objects, "groups", "groups named", |g| {
        text(g, "name")
    }));
    found.extend(repeated(objects, "providers", "providers named", |p| {
        text(p, "name")
    }));
    found.extend(repeated(
        objects,
        "applications",
        "applications with slug",
        |a| text(a, "slug"),
    ));
    found.extend(repeated(objects, "users", "users with e-mail", |u| {
        text(u, "email").map(|e| e.to_lowercase())
    }));
    found.extend(repeated(
        objects,
        "flow_bindings",
        "stage bindings of (flow, stage)",
        |b| Some(format!("({}, {})", text(b, "target")?, text(b, "stage")?)),
    ));
    found.extend(repeated(
        objects,
        "policy_bindings",
        "policy bindings of (target, subject)",
        |b| {
            let subject = text(b, "group")
                .or_else(|| text(b, "policy"))
                .or_else(|| text(b, "user"))?;
            Some(format!("({}, {subject})", text(b, "target")?))
        },
    ));
    for provider in objects["providers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = text(provider, "name").unwrap_or_default();
        found.extend(repeated(
            provider,
            "redirect_uris",
            &format!("times in provider {name}: redirect URI"),
            |u| text(u, "url"),
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clean() -> Value {
        json!({
            "brands": [{"domain": "acme.example"}, {"domain": "globex.example"}, {"domain": ""}, {"domain": ""}],
            "groups": [{"name": "dezky-tenant-acme"}, {"name": "dezky-tenant-globex"}],
            "providers": [{"name": "acme", "redirect_uris": [{"matching_mode": "strict", "url": "https://a/cb"}, {"matching_mode": "strict", "url": "https://a/cb2"}]}],
            "applications": [{"slug": "acme"}],
            "users": [{"email": "Ops@Acme.example"}, {"email": "ceo@acme.example"}],
            "flow_bindings": [{"target": "f1", "stage": "s1"}, {"target": "f1", "stage": "s2"}],
            "policy_bindings": [{"target": "b1", "group": "g1"}, {"target": "b1", "policy": "p1"}],
        })
    }

    #[test]
    fn a_clean_instance_has_none() {
        assert_eq!(semantic_duplicates(&clean()), Vec::<String>::new());
    }

    #[test]
    fn each_kind_of_duplicate_is_found() {
        let planted = [
            (
                "brands",
                json!({"domain": "acme.example"}),
                "2 brands for domain acme.example",
            ),
            (
                "groups",
                json!({"name": "dezky-tenant-acme"}),
                "2 groups named dezky-tenant-acme",
            ),
            (
                "applications",
                json!({"slug": "acme"}),
                "2 applications with slug acme",
            ),
            (
                "users",
                json!({"email": "ops@acme.example"}),
                "2 users with e-mail ops@acme.example",
            ),
            (
                "flow_bindings",
                json!({"target": "f1", "stage": "s1"}),
                "2 stage bindings of (flow, stage) (f1, s1)",
            ),
            (
                "policy_bindings",
                json!({"target": "b1", "group": "g1"}),
                "2 policy bindings of (target, subject) (b1, g1)",
            ),
        ];
        for (list, extra, expected) in planted {
            let mut objects = clean();
            objects[list]
                .as_array_mut()
                .unwrap_or_else(|| panic!("{list}"))
                .push(extra);
            assert_eq!(
                semantic_duplicates(&objects),
                vec![expected.to_owned()],
                "{list}"
            );
        }
        let mut objects = clean();
        objects["providers"][0]["redirect_uris"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("uris"))
            .push(json!({"matching_mode": "strict", "url": "https://a/cb"}));
        assert_eq!(
            semantic_duplicates(&objects),
            vec!["2 times in provider acme: redirect URI https://a/cb".to_owned()]
        );
    }
}
