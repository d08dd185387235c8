//! The OpenAPI 3 document, generated from the handlers' annotations.
//!
//! The paths come from `routes::api`, which registers every route together with its operation
//! (`utoipa_axum`), so the document and the router cannot disagree. This module adds what is
//! common to them all: the title, the bearer scheme, the schemas that only parameters name, and
//! [`CommonResponses`], the answers that come from the layers every request passes, so the
//! document lists every status a client can get: 403 (a Host that is not a loopback name, a
//! foreign Origin: `security.rs`), 401 (no or wrong credentials, for every route that needs
//! them), 400 for a path or query parameter that does not decode, and 400, 413 and 415 for a JSON
//! body (`json.rs`).
//!
//! `cargo run -p dotsync-daemon --example openapi` prints it (the web app's types are generated
//! from that: `ui/scripts/gen-types.sh`).

use std::sync::LazyLock;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "dotsync", description = "The dotsync daemon's API. Every route but /v1/health \
        needs `Authorization: Bearer <token>` (the token is in ~/.dotsync/state/token), or the \
        web app's session cookie with its `X-Dotsync-CSRF` header (see /v1/session/login)."),
    // Schemas that only parameters name (utoipa collects those of bodies by itself).
    components(schemas(dotsync_api::ErrorBody, dotsync_api::Event, dotsync_api::Side,
        dotsync_api::Missed)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub(crate) struct ApiDoc;

/// The whole document: the routes' operations and the shared answers.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = crate::routes::api().split_for_parts();
    CommonResponses.modify(&mut doc);
    // axum writes a parameter that takes the rest of the path `{*name}`; OpenAPI `{name}`.
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    doc
}

/// What `GET /v1/openapi.json` serves: [`document`], made once.
pub(crate) fn served() -> &'static utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(document);
    &DOC
}

/// The schema of a body of raw bytes (`application/octet-stream`): a binary string.
pub(crate) struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The shared answers, as `#/components/responses/...`: (status, name, description).
const SHARED: [(&str, &str, &str); 5] = [
    (
        "400",
        "BadRequest",
        "A path or query parameter, or the JSON body, is malformed, unknown, missing or invalid",
    ),
    (
        "401",
        "Unauthorized",
        "No credentials, or wrong ones: send `Authorization: Bearer <token>`",
    ),
    (
        "403",
        "Forbidden",
        "The Host header is not a loopback name, or the Origin is not the daemon's own",
    ),
    ("413", "PayloadTooLarge", "The body is larger than 1 MiB"),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not sent as `Content-Type: application/json`",
    ),
];

/// See the module documentation.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (_, name, description) in SHARED {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", content)
                .build();
            components
                .responses
                .insert(name.to_owned(), RefOr::T(response));
        }
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in ops.into_iter().flatten() {
                add_common(op);
            }
        }
    }
}

fn add_common(op: &mut Operation) {
    let decoded_params = op.parameters.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query))
    });
    let mut statuses = vec!["403"];
    if !is_public(op) {
        statuses.push("401");
    }
    if decoded_params {
        statuses.push("400");
    }
    if op.request_body.is_some() {
        statuses.extend(["400", "413", "415"]);
    }
    for status in statuses {
        let Some((_, name, _)) = SHARED.iter().find(|(s, _, _)| *s == status) else {
            continue;
        };
        // A handler's own description of the same status wins.
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
    }
}

/// Whether an operation says it needs no credentials (`security(())`).
fn is_public(op: &Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        reqs.iter()
            .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::App;

    fn app() -> (tempfile::TempDir, App, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = dotsync_state::Layout::new(dir.path().join("dots"));
        let app = App::open(layout.clone(), dir.path().to_path_buf()).expect("open");
        let token = layout.read_token().expect("read").expect("token");
        (dir, app, token)
    }

    /// Every documented operation: (method, path with `{params}` filled in, operation).
    fn operations() -> Vec<(&'static str, String, Operation)> {
        let doc = document();
        let mut out = Vec::new();
        for (path, item) in doc.paths.paths {
            let concrete = path.replace("{id}", "x").replace("{name}", "x");
            for (m, op) in [
                ("GET", item.get),
                ("PUT", item.put),
                ("POST", item.post),
                ("DELETE", item.delete),
            ] {
                if let Some(op) = op {
                    out.push((m, concrete.clone(), op));
                }
            }
        }
        out
    }

    async fn status_of(app: &App, req: Request<Body>) -> StatusCode {
        app.router().oneshot(req).await.expect("response").status()
    }

    /// The answers of the security layer are documented on exactly the routes that give them:
    /// 401 on every route that wants credentials (and only there), 403 everywhere.
    #[tokio::test]
    async fn every_operation_documents_what_the_security_layer_answers() {
        let (_dir, app, _token) = app();
        for (method, path, op) in operations() {
            let documented = |s: &str| op.responses.responses.contains_key(s);
            let anon = Request::builder()
                .method(method)
                .uri(&path)
                .header("host", "127.0.0.1")
                .body(Body::empty())
                .unwrap();
            let got = status_of(&app, anon).await;
            if got == StatusCode::UNAUTHORIZED {
                assert!(
                    documented("401"),
                    "{method} {path} answers 401 undocumented"
                );
            } else {
                assert!(
                    !documented("401"),
                    "{method} {path} documents 401 but answers {got} without credentials"
                );
            }
            let foreign = Request::builder()
                .method(method)
                .uri(&path)
                .header("host", "127.0.0.1")
                .header("origin", "http://evil.example")
                .body(Body::empty())
                .unwrap();
            assert_eq!(status_of(&app, foreign).await, StatusCode::FORBIDDEN);
            assert!(documented("403"), "{method} {path} does not document 403");
        }
    }

    /// Every `$ref` in the document names something the document has.
    #[test]
    fn every_reference_resolves() {
        fn walk(v: &serde_json::Value, doc: &serde_json::Value, refs: &mut usize) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                        *refs += 1;
                        let target = r
                            .strip_prefix('#')
                            .and_then(|p| doc.pointer(p))
                            .unwrap_or(&serde_json::Value::Null);
                        assert!(!target.is_null(), "unresolvable reference {r}");
                    }
                    m.values().for_each(|c| walk(c, doc, refs));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, doc, refs)),
                _ => {}
            }
        }
        let doc = serde_json::to_value(document()).unwrap();
        let mut refs = 0;
        walk(&doc, &doc, &mut refs);
        assert!(refs > 20, "only {refs} references");
    }

    /// Every body a route takes or gives, whatever its media type, has a schema (the web app's
    /// types are generated from them), every operation documents at least one answer, and no
    /// two operations share an `operationId` (generators name things by it).
    #[test]
    fn every_body_has_a_schema_and_every_operation_its_own_id() {
        fn resolve<'a>(
            doc: &'a serde_json::Value,
            v: &'a serde_json::Value,
        ) -> &'a serde_json::Value {
            match v.get("$ref").and_then(|r| r.as_str()) {
                Some(r) => doc.pointer(r.trim_start_matches('#')).expect("resolves"),
                None => v,
            }
        }
        let doc = serde_json::to_value(document()).unwrap();
        let mut bodies = 0;
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().expect("an operationId");
                assert!(ids.insert(id), "{method} {path}: operationId {id} is taken");
                let responses = op["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path} documents no answer");
                let mut contents = vec![(
                    "request".to_owned(),
                    op.get("requestBody").map(|b| &resolve(&doc, b)["content"]),
                )];
                for (status, r) in responses {
                    contents.push((status.clone(), resolve(&doc, r).get("content")));
                }
                for (what, content) in contents {
                    let Some(content) = content.and_then(|c| c.as_object()) else {
                        continue;
                    };
                    for (media, c) in content {
                        bodies += 1;
                        assert!(
                            c.get("schema").is_some(),
                            "{method} {path}: the {what} body ({media}) has no schema"
                        );
                    }
                }
            }
        }
        assert!(bodies > 50, "only {bodies} bodies");
    }

    /// Every route that reads a JSON body documents 400, 413 and 415, and really answers 415 to
    /// a body of another type.
    #[tokio::test]
    async fn every_json_body_documents_its_rejections() {
        let (_dir, app, token) = app();
        let mut seen = 0;
        for (method, path, op) in operations() {
            if op.request_body.is_none() {
                continue;
            }
            seen += 1;
            for s in ["400", "413", "415"] {
                assert!(
                    op.responses.responses.contains_key(s),
                    "{method} {path} does not document {s}"
                );
            }
            let req = Request::builder()
                .method(method)
                .uri(&path)
                .header("host", "127.0.0.1")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "text/plain")
                .body(Body::from("x"))
                .unwrap();
            assert_eq!(
                status_of(&app, req).await,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{method} {path}"
            );
        }
        assert!(seen >= 5, "only {seen} operations with a body");
    }
}
