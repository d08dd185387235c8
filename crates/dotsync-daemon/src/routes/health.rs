use axum::Json;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the daemon answers.
    pub status: &'static str,
    /// The daemon's version.
    pub version: &'static str,
}

/// Whether the daemon is up. The only route that needs no token.
#[utoipa::path(get, path = "/v1/health", tag = "daemon", security(()),
    responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "daemon",
    responses((status = 200, description = "The OpenAPI 3 document of the API", body = Object)))]
pub async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(crate::openapi::served())
}
