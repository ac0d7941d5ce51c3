//! The HTTP API (JSON), described by the OpenAPI document it serves at `/api/openapi.json`
//! (the file `openapi.json` beside this one; the crate's tests check every response against
//! it).
//!
//! Reads are open; writes (operator actions, budgets, new devices) need
//! `Authorization: Bearer <token>`, the token `serve` writes to `<data>/api.token`. A bad
//! request gets a 4xx status and `{"error": "..."}` naming what is wrong — never a 5xx; a 503
//! means the service itself cannot answer (shutting down, or the ledger unreadable).
//!
//! Besides the snapshots (devices, allocations, budgets) it serves time series over slots
//! ([`crate::series`]: a circuit's past and planned load, a device's forecasts against its
//! measurements, forecast accuracy), every grant of a window for timelines, and
//! `/api/events`, a stream of server-sent events saying what each turn of the coordinator
//! changed, so that a reader (the dashboard, [`crate::dashboard`]) re-reads within the turn.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use powerslot_core::Slot;
use powerslot_protocol::coordinator::OperatorCommand;
use powerslot_protocol::{DeviceId, Priority};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::keys::constant_time_eq;
use crate::ledger::{ForecastRow, Ledger};
use crate::series::{self, Accuracy, CircuitRows, CircuitSeries, DeviceSlot};
use crate::service::{Command, Handle, LOOP_GONE, Status};

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
        .route("/api/devices/{id}/series", get(device_series))
        .route("/api/circuits", get(circuits))
        .route("/api/circuits/{name}/limit", post(set_limit))
        .route("/api/circuits/{name}/series", get(circuit_series))
        .route("/api/awards", get(awards))
        .route("/api/accuracy", get(accuracy))
        .route("/api/events", get(events))
        .route("/api/allocations", get(allocations))
        .route("/api/waiting", get(waiting))
        .route("/api/budget", get(budget).post(set_budget))
        .route("/api/forecasts", get(forecasts))
        .route("/api/log", get(log))
        .route("/metrics", get(metrics))
        .merge(crate::dashboard::routes())
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
            class_budgets: Vec::new(),
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
    /// What the classes below high may use of the budget (see `CoordInput::ClassBudget`).
    #[serde(default)]
    class_budgets: Vec<ClassBudgetBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassBudgetBody {
    class: Priority,
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
    if let Some(c) = b.class_budgets.iter().find(|c| c.class >= Priority::High) {
        return Err(bad(format!(
            "class_budgets: a class budget limits normal or low, not {:?} (it keeps the rest for high)",
            c.class
        )));
    }
    if b.class_budgets.iter().any(|c| c.values_mw.is_empty()) {
        return Err(bad("class_budgets: values_mw needs at least one value"));
    }
    let r = h
        .ask(|reply| Command::SetBudget {
            circuit: b.circuit,
            from_slot: b.from_slot,
            values_mw: b.values_mw,
            class_budgets: b
                .class_budgets
                .into_iter()
                .map(|c| (c.class, c.values_mw))
                .collect(),
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
    tail: Option<bool>,
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
    let rows = if q.tail == Some(true) {
        if q.after.is_some() {
            return Err(bad("give either after or tail, not both"));
        }
        read_ledger(&h, move |l| l.log_tail(limit, q.device.as_deref())).await?
    } else {
        read_ledger(&h, move |l| l.log(after, limit, q.device.as_deref())).await?
    };
    Ok(Json(rows).into_response())
}

async fn metrics(State(h): State<Handle>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        h.metrics.render(),
    )
}

/// Slots of history and of plan a series covers by default, and at most.
const DEFAULT_PAST_SLOTS: Slot = 48;
const DEFAULT_AHEAD_SLOTS: Slot = 48;
const MAX_SERIES_SLOTS: Slot = 2_000;

/// The window `[from, to)` of a series query: defaults around the current slot, checked.
fn window(q: &SlotRange, now: Slot) -> ApiResult<(Slot, Slot)> {
    let from = q
        .from
        .unwrap_or_else(|| now.saturating_sub(DEFAULT_PAST_SLOTS));
    let to =
        q.to.unwrap_or_else(|| now.saturating_add(DEFAULT_AHEAD_SLOTS));
    if to < from {
        return Err(bad(format!("to ({to}) is before from ({from})")));
    }
    if to - from > MAX_SERIES_SLOTS {
        return Err(bad(format!("at most {MAX_SERIES_SLOTS} slots at a time")));
    }
    Ok((from, to))
}

async fn status(h: &Handle) -> ApiResult<Status> {
    h.ask(Command::Status).await.ok_or_else(gone)
}

async fn circuits(State(h): State<Handle>) -> ApiResult<Response> {
    let c = h.ask(Command::Circuits).await.ok_or_else(gone)?;
    Ok(Json(c).into_response())
}

async fn circuit_series(
    State(h): State<Handle>,
    Path(name): Path<String>,
    q: Result<Query<SlotRange>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let st = status(&h).await?;
    let (from, to) = window(&q, st.slot)?;
    let circuit = h
        .ask(Command::Circuits)
        .await
        .ok_or_else(gone)?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("circuit '{name}' does not exist at this site"),
            )
        })?;
    let plan = h
        .ask(|reply| Command::Budget {
            circuit: Some(name.clone()),
            from: Some(st.slot),
            to: None,
            reply,
        })
        .await
        .ok_or_else(gone)?
        .map_err(|e| ApiError(StatusCode::NOT_FOUND, e))?;
    // Budgets published up to a horizon before the window still forecast for its slots.
    let lookback = plan.capacity_mw.len().max(1) as Slot;
    let (name2, devices) = (name.clone(), circuit.devices.clone());
    let mut rows = read_ledger(&h, move |l| {
        let mut measured = BTreeMap::new();
        for d in &devices {
            for (slot, mw) in l.telemetry(d, from, to)? {
                *measured.entry(slot).or_insert(0) += mw;
            }
        }
        Ok(CircuitRows {
            past: l
                .circuit_slots(&name2, from, to)?
                .into_iter()
                .map(|(s, c, u)| (s, (c, u)))
                .collect(),
            measured,
            published: l.budgets(&name2, from.saturating_sub(lookback), to)?,
            ..CircuitRows::default()
        })
    })
    .await?;
    rows.plan_from = plan.from_slot;
    rows.plan_capacity = plan.capacity_mw;
    rows.plan_committed = plan.committed_mw;
    let slots = series::circuit_slots(&rows, from, to, lookback, circuit.rating_mw);
    Ok(Json(CircuitSeries {
        circuit: circuit.name,
        rating_mw: circuit.rating_mw,
        now_slot: st.slot,
        slot_ms: st.slot_ms,
        slots,
    })
    .into_response())
}

async fn awards(
    State(h): State<Handle>,
    q: Result<Query<SlotRange>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let st = status(&h).await?;
    let (from, to) = window(&q, st.slot)?;
    let rows = read_ledger(&h, move |l| l.awards_between(from, to)).await?;
    Ok(Json(rows).into_response())
}

/// A device's series.
#[derive(Serialize)]
struct DeviceSeries {
    device: String,
    now_slot: Slot,
    slot_ms: u64,
    slots: Vec<DeviceSlot>,
    /// Its latest forecast, for the slots ahead.
    ahead: Option<ForecastRow>,
    /// Accuracy over the window's past.
    accuracy: Accuracy,
}

async fn device_series(
    State(h): State<Handle>,
    Path(id): Path<String>,
    q: Result<Query<SlotRange>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let device = device_id(&id)?;
    let st = status(&h).await?;
    let (from, to) = window(&q, st.slot)?;
    let known = h.ask(Command::Devices).await.ok_or_else(gone)?;
    if !known.iter().any(|d| d.id == device.as_str()) {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("device '{device}' is not registered"),
        ));
    }
    let now = st.slot;
    let body = read_ledger(&h, move |l| {
        let d = device.as_str();
        let measured: BTreeMap<Slot, i64> = l
            .telemetry(d, from.saturating_sub(1), to)?
            .into_iter()
            .collect();
        let forecast = series::one_step(&l.forecasts_between(d, from, to)?);
        let awards: Vec<_> = l
            .awards_between(from, to)?
            .into_iter()
            .filter(|a| a.record.device == device)
            .collect();
        Ok(DeviceSeries {
            device: device.to_string(),
            now_slot: now,
            slot_ms: st.slot_ms,
            slots: series::device_slots(&measured, &forecast, &awards, from, to),
            ahead: l.forecasts(Some(d))?.into_iter().next(),
            accuracy: series::accuracy(d, &measured, &forecast, from, now.min(to)),
        })
    })
    .await?;
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccuracyQuery {
    window: Option<Slot>,
}

async fn accuracy(
    State(h): State<Handle>,
    q: Result<Query<AccuracyQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let window = q.window.unwrap_or(96);
    if window == 0 || window > MAX_SERIES_SLOTS {
        return Err(bad(format!("window is 1 to {MAX_SERIES_SLOTS} slots")));
    }
    let st = status(&h).await?;
    let devices = h.ask(Command::Devices).await.ok_or_else(gone)?;
    let (to, from) = (st.slot, st.slot.saturating_sub(window));
    let rows = read_ledger(&h, move |l| {
        devices
            .iter()
            .map(|d| {
                let measured: BTreeMap<Slot, i64> = l
                    .telemetry(&d.id, from.saturating_sub(1), to)?
                    .into_iter()
                    .collect();
                let forecast = series::one_step(&l.forecasts_between(&d.id, from, to)?);
                Ok(series::accuracy(&d.id, &measured, &forecast, from, to))
            })
            .collect::<crate::error::Result<Vec<_>>>()
    })
    .await?;
    Ok(Json(rows).into_response())
}

/// How soon a browser reconnects after the stream breaks (a coordinator restart).
const EVENTS_RETRY: Duration = Duration::from_millis(500);

async fn events(State(h): State<Handle>) -> impl IntoResponse {
    let rx = h.notices.subscribe();
    let stop = h.stopping.clone();
    // The first event says hello (and how soon to come back), so a reader knows the stream
    // is up and re-reads what it may have missed while it was away.
    let hello = match h.ask(Command::Status).await {
        Some(st) => {
            serde_json::json!({ "now_ms": st.now_ms, "slot": st.slot, "changes": ["hello"] })
        }
        None => serde_json::json!({ "now_ms": 0, "slot": 0, "changes": ["hello"] }),
    };
    let first = SseEvent::default()
        .event("change")
        .retry(EVENTS_RETRY)
        .data(hello.to_string());
    let stream = futures_util::stream::unfold(
        (Some(first), rx, stop),
        |(first, mut rx, mut stop)| async move {
            if let Some(f) = first {
                return Some((Ok(f), (None, rx, stop)));
            }
            let notice = tokio::select! {
                r = rx.recv() => r,
                _ = stop.wait_for(|s| *s) => return None,
            };
            let data = match notice {
                Ok(n) => serde_json::to_string(&n).unwrap_or_default(),
                // Too slow a reader missed some: tell it to re-read everything.
                Err(RecvError::Lagged(_)) => r#"{"now_ms":0,"slot":0,"changes":["lagged"]}"#.into(),
                Err(RecvError::Closed) => return None,
            };
            Some((
                Ok::<_, Infallible>(SseEvent::default().event("change").data(data)),
                (None, rx, stop),
            ))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
