//! This machine's encryption key: `GET /v1/key`, `POST /v1/key/init`, `POST /v1/key/export`,
//! `POST /v1/key/import`, `POST /v1/key/trust`. The key itself never leaves through the API but encrypted with the
//! person's passphrase.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiJson;
use dotsync_engine::content::KeyError;

pub use dotsync_api::{ExportInput, Exported, ImportInput, Imported, KeyState, TrustInput};

#[allow(
    clippy::needless_pass_by_value,
    reason = "a `map_err` adapter: takes the error as `map_err` hands it over"
)]
fn key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::Exists(_) => ApiError::conflict(e.to_string()),
        KeyError::NoKey => ApiError::not_found(e.to_string()),
        KeyError::WrongPassphrase => ApiError::invalid("passphrase", e.to_string()),
        KeyError::Invalid(_) => ApiError::bad_request(e.to_string()),
        KeyError::Io { .. } => ApiError::internal(e.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(key_error)
}

/// This machine's public keys.
#[utoipa::path(get, path = "/v1/key", operation_id = "show_key", tag = "key",
    responses((status = 200, body = KeyState), (status = 500, body = ErrorBody)))]
pub async fn show(State(app): State<App>) -> Result<Json<KeyState>, ApiError> {
    let (public_keys, trusted) =
        blocking(move || Ok((app.engine.key_public()?, app.engine.key_trusted()?))).await?;
    Ok(Json(KeyState {
        public_keys,
        trusted,
    }))
}

/// Trusts another machine's public key: what this machine encrypts from now on is encrypted
/// to it too, when the repository lists it. A key added to the repository is never used
/// before the person trusts it here: anyone who can push could add one.
#[utoipa::path(post, path = "/v1/key/trust", tag = "key", request_body = TrustInput,
    responses((status = 200, body = KeyState), (status = 400, body = ErrorBody)))]
pub async fn trust(
    State(app): State<App>,
    ApiJson(input): ApiJson<TrustInput>,
) -> Result<Json<KeyState>, ApiError> {
    let (public_keys, trusted) = blocking(move || {
        app.engine.key_trust(&input.public_key)?;
        Ok((app.engine.key_public()?, app.engine.key_trusted()?))
    })
    .await?;
    Ok(Json(KeyState {
        public_keys,
        trusted,
    }))
}

/// Creates this machine's key (`state/key.txt`, 0600). The next push of a config with
/// `encrypt` globs adds its public key to the repository's `.dotsync/recipients.txt`. 409 when
/// the machine has a key already.
#[utoipa::path(post, path = "/v1/key/init", tag = "key",
    responses((status = 201, body = KeyState), (status = 409, body = ErrorBody)))]
pub async fn init(State(app): State<App>) -> Result<(StatusCode, Json<KeyState>), ApiError> {
    let public = blocking(move || app.engine.key_init()).await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyState {
            public_keys: vec![public],
            trusted: Vec::new(),
        }),
    ))
}

/// This machine's key, encrypted with the passphrase, to carry to another machine. 404 when
/// there is no key.
#[utoipa::path(post, path = "/v1/key/export", tag = "key", request_body = ExportInput,
    responses((status = 200, body = Exported), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn export(
    State(app): State<App>,
    ApiJson(input): ApiJson<ExportInput>,
) -> Result<Json<Exported>, ApiError> {
    let armored = blocking(move || app.engine.key_export(&input.passphrase)).await?;
    Ok(Json(Exported { armored }))
}

/// Adds the key of an export to this machine; its encrypted files sync at the next sync.
/// 400 (`field: passphrase`) when the passphrase does not open it.
#[utoipa::path(post, path = "/v1/key/import", tag = "key", request_body = ImportInput,
    responses((status = 200, body = Imported), (status = 400, body = ErrorBody)))]
pub async fn import(
    State(app): State<App>,
    ApiJson(input): ApiJson<ImportInput>,
) -> Result<Json<Imported>, ApiError> {
    let engine_app = app.clone();
    let added = blocking(move || {
        engine_app
            .engine
            .key_import(&input.armored, &input.passphrase)
    })
    .await?;
    let public_keys = blocking(move || app.engine.key_public()).await?;
    Ok(Json(Imported { added, public_keys }))
}
