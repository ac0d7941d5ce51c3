//! The HTTP API (JSON), described by the OpenAPI document it serves at `/api/openapi.json`
//! (the file `openapi.json` beside this one; the crate's tests check every response against
//! it).
//!
//! Reads are open; writes (operator actions, budgets, new devices) need
//! `Authorization: Bearer <token>`, the token `serve` writes to `<data>/api.token`. A bad
//! request gets a 4xx status and `{"error": "..."}` naming what is wrong — never a 5xx; a 503
//! means the service itself cannot answer (shutting down, or the ledger unreadable).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use powerslot_core::Slot;
use powerslot_protocol::coordinator::OperatorCommand;
use powerslot_protocol::{DeviceId, Priority};
use serde::Deserialize;

use crate::keys::constant_time_eq;
use crate::ledger::Ledger;
use crate::service::{Command, Handle, LOOP_GONE};

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// An error answer: a status and a reason.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn gone() -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, LOOP_GONE.into())
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError(r.status(), r.body_text())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The API's routes over a running coordinator.
pub fn router(h: Handle) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/devices", get(devices).post(add_device))
        .route("/api/devices/{id}/priority", post(set_priority))
        .route("/api/devices/{id}/pause", post(pause))
        .route("/api/devices/{id}/resume", post(resume))
        .route(
            "/api/devices/{id}/requests/{request}/deadline",
            post(set_deadline),
        )
        .route("/api/circuits/{name}/limit", post(set_limit))
        .route("/api/allocations", get(allocations))
        .route("/api/waiting", get(waiting))
        .route("/api/budget", get(budget).post(set_budget))
        .route("/api/forecasts", get(forecasts))
        .route("/api/log", get(log))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(h)
}

async fn not_found() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such endpoint (see /api/openapi.json)".into(),
    )
}

fn authorise(h: &Handle, headers: &HeaderMap) -> ApiResult<()> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if constant_time_eq(t.trim(), &h.token) => Ok(()),
        Some(_) => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "the bearer token is wrong".into(),
        )),
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "writes need 'Authorization: Bearer <token>' (the token is in <data>/api.token)".into(),
        )),
    }
}

fn device_id(id: &str) -> ApiResult<DeviceId> {
    DeviceId::new(id).map_err(|e| bad(format!("device id '{id}': {e}")))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn health(State(h): State<Handle>) -> ApiResult<Response> {
    let s = h.ask(Command::Status).await.ok_or_else(gone)?;
    let code = if s.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((code, Json(s)).into_response())
}

async fn devices(State(h): State<Handle>) -> ApiResult<Response> {
    let d = h.ask(Command::Devices).await.ok_or_else(gone)?;
    Ok(Json(d).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDeviceBody {
    id: String,
    circuit: Option<String>,
    max_priority: Option<Priority>,
    port: Option<u32>,
}

async fn add_device(
    State(h): State<Handle>,
    headers: HeaderMap,
    body: Result<Json<NewDeviceBody>, JsonRejection>,
) -> ApiResult<Response> {
    authorise(&h, &headers)?;
    let Json(b) = body?;
    let id = device_id(&b.id)?;
    let r = h
        .ask(|reply| Command::AddDevice {
            id,
            circuit: b.circuit,
            max_priority: b.max_priority.unwrap_or_default(),
            port: b.port,
            reply,
        })
        .await
        .ok_or_else(gone)?;
    match r {
        Ok(nd) => Ok((StatusCode::CREATED, Json(nd)).into_response()),
        Err(e) if e.contains("already registered") => Err(ApiError(StatusCode::CONFLICT, e)),
        Err(e) => Err(bad(e)),
    }
}

async fn operator(h: &Handle, cmd: OperatorCommand) -> ApiResult<Response> {
    let r = h
        .ask(|reply| Command::Operator { cmd, reply })
        .await
        .ok_or_else(gone)?;
    match r {
        Ok(()) => Ok((
            StatusCode::OK,
            Json(serde_json::json!({ "status": "done" })),
        )
            .into_response()),
        Err(e) if e.contains("is not registered") => Err(ApiError(StatusCode::NOT_FOUND, e)),
        Err(e) => Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, e)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorityBody {
    priority: Priority,
}

async fn set_priority(
    State(h): State<Handle>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<PriorityBody>, JsonRejection>,
) -> ApiResult<Response> {
    authorise(&h, &headers)?;
    let Json(b) = body?;
    let device = device_id(&id)?;
    operator(
        &h,
        OperatorCommand::SetPriority {
            device,
            priority: b.priority,
        },
    )
    .await
}

async fn pause(
    State(h): State<Handle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    authorise(&h, &headers)?;
    operator(&h, OperatorCommand::Pause(device_id(&id)?)).await
}

async fn resume(
    State(h): State<Handle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    authorise(&h, &headers)?;
    operator(&h, OperatorCommand::Resume(device_id(&id)?)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadlineBody {
    deadline_slot: Slot,
}

async fn set_deadline(
    State(h): State<Handle>,
    headers: HeaderMap,
    Path((id, request)): Path<(String, String)>,
    body: Result<Json<DeadlineBody>, JsonRejection>,
) -> ApiResult<Response> {
    authorise(&h, &headers)?;
    let Json(b) = body?;
    let device = device_id(&id)?;
    let request: u64 = request
        .parse()
        .map_err(|_| bad(format!("request '{request}' is not a number")))?;
    operator(
        &h,
        OperatorCommand::SetDeadline {
            device,
            request,
            deadline: b.deadline_slot,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitBody {
    from_slot: Option<Slot>,
    limit_mw: i64,
}

async fn set_limit(
    State(h): State<Handle>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<LimitBody>, JsonRejection>,
) -> ApiResult<Response> {
    authorise(&h, &headers)?;
    let Json(b) = body?;
    if b.limit_mw < 0 {
        return Err(bad("limit_mw must not be negative"));
    }
    // The circuit's index comes from the budget curve (the loop knows the tree).
    let curve = h
        .ask(|reply| Command::Budget {
            circuit: Some(name.clone()),
            from: None,
            to: None,
            reply,
        })
        .await
        .ok_or_else(gone)?
        .map_err(|e| ApiError(StatusCode::NOT_FOUND, e))?;
    let r = h
        .ask(|reply| Command::SetBudget {
            circuit: Some(curve.circuit),
            from_slot: b.from_slot.unwrap_or(curve.from_slot),
            values_mw: vec![b.limit_mw],
            reply,
        })
        .await
        .ok_or_else(gone)?;
    r.map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(Json(serde_json::json!({ "status": "done" })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotRange {
    from: Option<Slot>,
    to: Option<Slot>,
}

async fn allocations(
    State(h): State<Handle>,
    q: Result<Query<SlotRange>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let status = h.ask(Command::Status).await.ok_or_else(gone)?;
    let from = q.from.unwrap_or(status.slot);
    let to = q.to.unwrap_or(from.saturating_add(96));
    if to < from {
        return Err(bad(format!("to ({to}) is before from ({from})")));
    }
    if to - from > powerslot_protocol::limits::MAX_HORIZON_SLOTS {
        return Err(bad("at most 10080 slots at a time"));
    }
    let a = h
        .ask(|reply| Command::Allocations { from, to, reply })
        .await
        .ok_or_else(gone)?;
    Ok(Json(a).into_response())
}

async fn waiting(State(h): State<Handle>) -> ApiResult<Response> {
    let w = h.ask(Command::Waiting).await.ok_or_else(gone)?;
    Ok(Json(w).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetQuery {
    circuit: Option<String>,
    from: Option<Slot>,
    to: Option<Slot>,
}

async fn budget(
    State(h): State<Handle>,
    q: Result<Query<BudgetQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let r = h
        .ask(|reply| Command::Budget {
            circuit: q.circuit,
            from: q.from,
            to: q.to,
            reply,
        })
        .await
        .ok_or_else(gone)?;
    match r {
        Ok(c) => Ok(Json(c).into_response()),
        Err(e) => Err(ApiError(StatusCode::NOT_FOUND, e)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetBody {
    circuit: Option<String>,
    from_slot: Slot,
    values_mw: Vec<i64>,
}

async fn set_budget(
    State(h): State<Handle>,
    headers: HeaderMap,
    body: Result<Json<BudgetBody>, JsonRejection>,
) -> ApiResult<Response> {
    authorise(&h, &headers)?;
    let Json(b) = body?;
    if b.values_mw.is_empty() {
        return Err(bad("values_mw needs at least one value"));
    }
    let r = h
        .ask(|reply| Command::SetBudget {
            circuit: b.circuit,
            from_slot: b.from_slot,
            values_mw: b.values_mw,
            reply,
        })
        .await
        .ok_or_else(gone)?;
    match r {
        Ok(()) => Ok((
            StatusCode::OK,
            Json(serde_json::json!({ "status": "done" })),
        )
            .into_response()),
        Err(e) if e.contains("does not exist") => Err(ApiError(StatusCode::NOT_FOUND, e)),
        Err(e) => Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, e)),
    }
}

/// Runs a query on a read-only connection of its own, off the async threads.
async fn read_ledger<T: Send + 'static>(
    h: &Handle,
    f: impl FnOnce(&Ledger) -> crate::error::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let path = h.ledger_path.clone();
    tokio::task::spawn_blocking(move || {
        let l = Ledger::open_read_only(&path)?;
        f(&l)
    })
    .await
    .map_err(|_| gone())?
    .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceQuery {
    device: Option<String>,
}

async fn forecasts(
    State(h): State<Handle>,
    q: Result<Query<DeviceQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    if let Some(d) = &q.device {
        device_id(d)?;
    }
    let rows = read_ledger(&h, move |l| l.forecasts(q.device.as_deref())).await?;
    Ok(Json(rows).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    after: Option<i64>,
    limit: Option<u32>,
    device: Option<String>,
}

async fn log(
    State(h): State<Handle>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    if let Some(d) = &q.device {
        device_id(d)?;
    }
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(bad("limit is 1 to 1000"));
    }
    let after = q.after.unwrap_or(0);
    let rows = read_ledger(&h, move |l| l.log(after, limit, q.device.as_deref())).await?;
    Ok(Json(rows).into_response())
}

async fn metrics(State(h): State<Handle>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        h.metrics.render(),
    )
}
