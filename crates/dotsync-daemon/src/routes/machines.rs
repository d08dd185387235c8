//! `GET /v1/machines`: every machine of each remote, and whether it can be poked now.

use axum::Json;
use axum::extract::State;

use crate::App;
use crate::error::ApiError;
use crate::notify::Machines;

/// Per remote: this machine and every other machine that published its presence there or was
/// heard from, with its version, when it was last seen, and whether it is reachable for pokes
/// now (a signed message from it arrived in the last 10 minutes). Also this machine's listener
/// and relay, and the notify channel's counters. Reads memory only; without a daemon, what the
/// engine last fetched (nobody reachable).
#[utoipa::path(get, path = "/v1/machines", tag = "daemon",
    responses((status = 200, body = Machines)))]
pub async fn machines(State(app): State<App>) -> Result<Json<Machines>, ApiError> {
    let app2 = app.clone();
    let view = tokio::task::spawn_blocking(move || {
        let configs = app2.store.list_configs()?;
        Ok::<_, dotsync_state::StoreError>(crate::notify::view(&app2, &configs))
    })
    .await
    .map_err(|e| ApiError::internal(format!("listing the machines stopped: {e}")))??;
    Ok(Json(view))
}
