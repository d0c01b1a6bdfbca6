//! The OpenAPI description against the routes that exist: the same operations as the route
//! table, every one of them answered by the live server, and a valid OpenAPI 3.1 document
//! by an independent validator.

use std::collections::BTreeSet;

use anyhow::Context;
use serde_json::Value;
use tongban_tests::{TestHub, error_code};

/// `(METHOD, /v1/path)` of every route in the `/v1` router of `routes/mod.rs`.
fn route_table() -> anyhow::Result<BTreeSet<(String, String)>> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../gateway/src/routes/mod.rs"
    ))?;
    let start = source
        .find("let v1 = Router::new()")
        .context("the v1 router")?;
    let end = start
        + source[start..]
            .find(".fallback(v1_fallback)")
            .context("the end of the v1 router")?;
    let chain = &source[start..end];
    let path = regex::Regex::new(r#"^\.route\(\s*"([^"]+)""#)?;
    let method = regex::Regex::new(r"\b(get|post|put|patch|delete)\(")?;
    let mut routes = BTreeSet::new();
    let mut rest = chain;
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at..];
        // The call runs to its matching parenthesis.
        let mut depth = 0usize;
        let mut close = call.len();
        for (i, c) in call.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &call[..close];
        let p = &path.captures(call).context("a route without a path")?[1];
        for m in method.captures_iter(call) {
            routes.insert((m[1].to_uppercase(), format!("/v1{p}")));
        }
        rest = &rest[at + close..];
    }
    Ok(routes)
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[tokio::test]
async fn openapi_describes_exactly_the_routes_that_exist() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let url = format!("{}/v1/openapi.json", hub.base());
    let anonymous = hub.anonymous()?.get(&url).send().await?;
    assert_eq!(anonymous.status(), 401, "like every /v1 route");
    let auditor = hub.department("supervision")?;
    let doc: Value = auditor.get(&url).send().await?.json().await?;
    assert_eq!(doc["openapi"], "3.1.0");

    let table = route_table()?;
    assert!(table.len() >= 30, "the route table was read: {table:?}");
    let described = documented(&doc);
    let missing: Vec<_> = table.difference(&described).collect();
    let extra: Vec<_> = described.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes without a description: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "descriptions of routes that do not exist: {extra:?}"
    );

    // The live server routes every described operation (the answer may be a refusal of the
    // empty request, never "no such route" or "method not allowed").
    let sample = |path: &str| {
        path.replace("{code}", "101001-000001")
            .replace("{id}", "999999")
            .replace("{department}", "market-regulation")
            .replace("{list}", "1")
    };
    let probe = |method: &str, path: &str| {
        let request = match method {
            "GET" => auditor.get(format!("{}{path}", hub.base())),
            "POST" => auditor.post(format!("{}{path}", hub.base())),
            "DELETE" => auditor.delete(format!("{}{path}", hub.base())),
            "PUT" => auditor.put(format!("{}{path}", hub.base())),
            other => panic!("no probe for {other}"),
        };
        async move {
            let response = request.send().await?;
            if response.status().is_success() {
                return anyhow::Ok("ok".to_owned());
            }
            let status = response.status();
            let text = response.text().await?;
            Ok(serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("http.{status}")))
        }
    };
    let unrouted = ["request.no_route", "request.method_not_allowed"];
    for (method, path) in &described {
        let code = probe(method, &sample(path)).await?;
        assert!(
            !unrouted.contains(&code.as_str()),
            "{method} {path}: {code}"
        );
    }
    // The probe tells a missing route apart.
    assert_eq!(probe("GET", "/v1/no/such/route").await?, "request.no_route");
    assert!(unrouted.contains(&probe("PUT", "/v1/me").await?.as_str()));
    let response = auditor
        .get(format!("{}/v1/nothing-here", hub.base()))
        .send()
        .await?;
    assert_eq!(error_code(response).await?, "request.no_route");

    // An independent validator accepts it as OpenAPI 3.1.
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_vec_pretty(&doc)?)?;
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate, OpenAPIV31SpecValidator\nvalidate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)",
        ])
        .arg(file.path())
        .output()
        .context("running python3 (tests/run.sh installs openapi-spec-validator)")?;
    assert!(
        output.status.success(),
        "openapi-spec-validator: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
