//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    config, events, file, fs, health, history, machines, session, settings, status, sync, ui,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "dotsync", description = "The dotsync daemon's API. Every route but /v1/health \
        needs `Authorization: Bearer <token>` (the token is in ~/.dotsync/state/token), or the \
        web app's session cookie with its `X-Dotsync-CSRF` header (see /v1/session/login)."),
    paths(
        health::health, health::openapi,
        config::list, config::create, config::show, config::replace, config::delete,
        file::which,
        history::conflicts, history::conflict_content, history::resolve, history::history,
        history::content, history::restore, history::files,
        sync::sync_one, sync::sync_all, status::status, machines::machines, events::events,
        ui::index, session::show, session::create_code, session::login, session::logout,
        fs::list, settings::show, settings::replace,
    ),
    components(schemas(crate::error::ErrorBody, crate::events::Event)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

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
