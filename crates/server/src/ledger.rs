//! The SQLite ledger: what the site is, who its devices are, and everything the coordinator
//! decided, durable before it is announced.
//!
//! One file per site, in WAL mode (readers — the HTTP API — never block the writer) with
//! `synchronous = FULL`, so that a committed award survives a power cut as well as a killed
//! process. The coordinator writes one transaction per turn of its loop ([`Batch`]): the
//! machine's stores, the requests that arrived or changed state, telemetry, forecasts, budget
//! changes, the negotiation log and the highest sequence number accepted from each device;
//! only after the commit does it tell the machine `StoreDone` and publish anything. A failed
//! commit (a full disk, a read-only file) therefore announces nothing.
//!
//! The schema is versioned: [`MIGRATIONS`] are applied in order and `PRAGMA user_version`
//! counts those applied; a ledger written by a newer powerslot is refused, not guessed at.
//!
//! After a restart [`Ledger::snapshot`] rebuilds the coordinator: the live awards, the last
//! epoch, the requests still waiting and each device's last sequence number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use powerslot_core::Slot;
use powerslot_protocol::circuit::CircuitSpec;
use powerslot_protocol::msg::{RequestId, Telemetry, TimeslotRequest};
use powerslot_protocol::output::{AwardRecord, Record, Snapshot};
use powerslot_protocol::{DeviceId, Priority};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Result, ServerError};

/// The schema, one migration per version (index 0 brings a new file to version 1).
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE site (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    slot_ms INTEGER NOT NULL CHECK (slot_ms > 0),
    clock_start_ms INTEGER NOT NULL,
    speed REAL NOT NULL CHECK (speed > 0),
    created_ms INTEGER NOT NULL
);
CREATE TABLE circuits (
    ix INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    parent TEXT,
    rating_mw INTEGER NOT NULL CHECK (rating_mw >= 0)
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    circuit TEXT NOT NULL REFERENCES circuits(name),
    max_priority TEXT NOT NULL,
    port INTEGER NOT NULL,
    key_generation INTEGER NOT NULL,
    key_fingerprint TEXT NOT NULL,
    added_ms INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE epochs (
    epoch INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL
);
CREATE TABLE requests (
    device TEXT NOT NULL,
    request INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('waiting', 'awarded', 'ended')),
    priority TEXT NOT NULL,
    kind TEXT NOT NULL,
    earliest_start INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    body TEXT NOT NULL,
    arrived_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (device, request)
);
CREATE INDEX requests_by_state ON requests(state);
CREATE TABLE awards (
    device TEXT NOT NULL,
    request INTEGER NOT NULL,
    version INTEGER NOT NULL,
    priority TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_slot INTEGER NOT NULL,
    end_slot INTEGER NOT NULL,
    peak_mw INTEGER NOT NULL,
    live INTEGER NOT NULL,
    end_reason TEXT,
    record TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (device, request)
);
CREATE INDEX awards_by_slot ON awards(start_slot, end_slot);
CREATE TABLE award_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    request INTEGER NOT NULL,
    version INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    record TEXT NOT NULL,
    stored_ms INTEGER NOT NULL
);
CREATE INDEX award_versions_by_request ON award_versions(device, request);
CREATE TABLE telemetry (
    device TEXT NOT NULL,
    slot INTEGER NOT NULL,
    measured_mw INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (device, slot)
);
CREATE TABLE forecasts (
    device TEXT NOT NULL,
    from_slot INTEGER NOT NULL,
    p50_mw TEXT NOT NULL,
    p90_mw TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (device, from_slot)
);
CREATE TABLE budget (
    circuit TEXT NOT NULL,
    from_slot INTEGER NOT NULL,
    values_mw TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (circuit, from_slot)
);
CREATE TABLE negotiation_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    device TEXT,
    request INTEGER,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX negotiation_log_by_device ON negotiation_log(device, id);
"#,
    r#"
CREATE TABLE circuit_slots (
    circuit TEXT NOT NULL,
    slot INTEGER NOT NULL,
    capacity_mw INTEGER NOT NULL,
    committed_mw INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (circuit, slot)
);
"#,
];

/// What the ledger knows about the site.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteRow {
    /// The site's name (the MQTT topic prefix `powerslot/<name>/`).
    pub name: String,
    /// Slot length, ms.
    pub slot_ms: u64,
    /// Start of compressed time, Unix ms (0 for real time).
    pub clock_start_ms: u64,
    /// How much faster than the wall clock protocol time runs (1 for real time).
    pub speed: f64,
}

/// A registered device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceRow {
    /// Its id.
    pub id: DeviceId,
    /// The circuit it hangs from, by name.
    pub circuit: String,
    /// The highest class it may ask for.
    pub max_priority: Priority,
    /// Port number: lower wins ties inside a class.
    pub port: u32,
    /// Generation of its key (see [`crate::keys`]).
    pub key_generation: u32,
    /// Fingerprint of its key.
    pub key_fingerprint: String,
}

/// Where a request stands in the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    /// Accepted, not granted yet.
    Waiting,
    /// Granted.
    Awarded,
    /// Over: served, refused, released or expired.
    Ended,
}

impl RequestState {
    fn name(self) -> &'static str {
        match self {
            RequestState::Waiting => "waiting",
            RequestState::Awarded => "awarded",
            RequestState::Ended => "ended",
        }
    }
}

/// One line of the negotiation log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogEntry {
    /// Its id (increasing; 0 before it is written).
    pub id: i64,
    /// Protocol time, ms.
    pub at_ms: u64,
    /// Slot.
    pub slot: Slot,
    /// The device concerned, if any.
    pub device: Option<String>,
    /// The request concerned, if any.
    pub request: Option<RequestId>,
    /// What happened (`request`, `offer`, `counter_bid`, `awarded`, `rejected`, `instructed`,
    /// `ended`, `security`, `batch`, `overload`, `budget_breach`, `operator`).
    pub event: String,
    /// The event as JSON.
    pub detail: serde_json::Value,
}

/// A grant as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AwardRow {
    /// The grant.
    #[serde(flatten)]
    pub record: AwardRecord,
    /// Whether it is still running or ahead.
    pub live: bool,
    /// Why it ended, if it did.
    pub end_reason: Option<String>,
}

/// A device's latest forecast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForecastRow {
    /// The device.
    pub device: String,
    /// First slot forecast.
    pub from_slot: Slot,
    /// Median power per slot, mW.
    pub p50_mw: Vec<i64>,
    /// 90th percentile per slot, mW.
    pub p90_mw: Vec<i64>,
    /// When it arrived, protocol ms.
    pub at_ms: u64,
}

/// Everything one turn of the coordinator's loop makes durable, in one transaction.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Protocol time of the turn, ms.
    pub now_ms: u64,
    /// The machine's stores, in order.
    pub stores: Vec<(u64, Record)>,
    /// Requests the machine accepted.
    pub new_requests: Vec<(DeviceId, TimeslotRequest)>,
    /// Requests whose state changed.
    pub request_states: Vec<(DeviceId, RequestId, RequestState)>,
    /// Highest sequence number accepted per device.
    pub last_seq: BTreeMap<DeviceId, u64>,
    /// Telemetry received.
    pub telemetry: Vec<(DeviceId, Telemetry)>,
    /// Budget changes: circuit, first slot, capacity per slot.
    pub budget: Vec<(String, Slot, Vec<i64>)>,
    /// Negotiation log lines.
    pub log: Vec<LogEntry>,
    /// What each circuit had in the current slot: circuit, slot, capacity, committed (mW).
    /// The book forgets a slot once it has passed; this keeps it for the dashboard's past.
    pub circuit_slots: Vec<(String, Slot, i64, i64)>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
            && self.new_requests.is_empty()
            && self.request_states.is_empty()
            && self.last_seq.is_empty()
            && self.telemetry.is_empty()
            && self.budget.is_empty()
            && self.log.is_empty()
            && self.circuit_slots.is_empty()
    }

    /// The highest store sequence number in the batch.
    pub fn last_store(&self) -> Option<u64> {
        self.stores.last().map(|(s, _)| *s)
    }

    /// Keeps at most `max` telemetry records and log lines (the newest); stores, requests
    /// and sequence numbers are never dropped.
    pub fn shed_observations(&mut self, max: usize) {
        if self.telemetry.len() > max {
            self.telemetry.drain(..self.telemetry.len() - max);
        }
        if self.log.len() > max {
            self.log.drain(..self.log.len() - max);
        }
        if self.circuit_slots.len() > max {
            self.circuit_slots.drain(..self.circuit_slots.len() - max);
        }
    }

    /// Appends a later batch (after a failed write, both are written together).
    pub fn append(&mut self, later: Batch) {
        self.now_ms = later.now_ms;
        self.stores.extend(later.stores);
        self.new_requests.extend(later.new_requests);
        self.request_states.extend(later.request_states);
        for (d, s) in later.last_seq {
            let e = self.last_seq.entry(d).or_insert(0);
            *e = (*e).max(s);
        }
        self.telemetry.extend(later.telemetry);
        self.budget.extend(later.budget);
        self.log.extend(later.log);
        self.circuit_slots.extend(later.circuit_slots);
    }
}

/// A ledger file.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ledger({})", self.path.display())
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("ledger values serialise")
}

impl Ledger {
    fn err(&self, e: impl std::fmt::Display) -> ServerError {
        ledger_error(&self.path, e)
    }

    /// Opens (creating it if needed) and migrates the ledger at `path`. A read-only file or
    /// folder is refused with [`ServerError::ReadOnly`].
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| ledger_error(path, e))?;
        let mut l = Self {
            conn,
            path: path.to_path_buf(),
        };
        if l.conn.is_readonly("main").map_err(|e| l.err(e))? {
            return Err(ServerError::ReadOnly(path.to_path_buf()));
        }
        l.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| l.err(e))?;
        // WAL needs to write its journal: a read-only folder shows up here.
        let mode: String = l
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| l.classify(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(l.err(format!("could not switch to WAL (journal mode is {mode})")));
        }
        l.conn
            .pragma_update(None, "synchronous", "FULL")
            .and_then(|()| l.conn.pragma_update(None, "foreign_keys", "ON"))
            .map_err(|e| l.err(e))?;
        l.migrate()?;
        Ok(l)
    }

    /// Opens an existing ledger for reading only (listings while the coordinator runs, the
    /// API's queries).
    pub fn open_read_only(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(ledger_error(
                path,
                "no ledger here (start `powerslot serve` first)",
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| ledger_error(path, e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| ledger_error(path, e))?;
        let l = Self {
            conn,
            path: path.to_path_buf(),
        };
        let v = l.schema_version()?;
        if v as usize != MIGRATIONS.len() {
            return Err(l.err(format!(
                "schema version {v}, this powerslot reads version {}",
                MIGRATIONS.len()
            )));
        }
        Ok(l)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn classify(&self, e: rusqlite::Error) -> ServerError {
        classify(&self.path, e)
    }

    /// Caps the file at about `bytes` (SQLite's `max_page_count`): past it every write fails
    /// as on a full disk. A quota for small devices; the disk-full tests use it too.
    pub fn set_max_bytes(&self, bytes: u64) -> Result<()> {
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let pages = (bytes / (page.max(1) as u64)).max(1);
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    /// The database's size as SQLite counts it (pages × page size), bytes.
    pub fn size_bytes(&self) -> Result<u64> {
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok((pages * page).max(0) as u64)
    }

    /// The schema version (the number of migrations applied).
    pub fn schema_version(&self) -> Result<u32> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> Result<()> {
        let v = self.schema_version()? as usize;
        if v > MIGRATIONS.len() {
            return Err(self.err(format!(
                "schema version {v} was written by a newer powerslot (this one knows {})",
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(v) {
            let tx = self
                .conn
                .transaction()
                .map_err(|e| ledger_error(&self.path, e))?;
            tx.execute_batch(m)
                .and_then(|()| tx.pragma_update(None, "user_version", (i + 1) as i64))
                .and_then(|()| tx.commit())
                .map_err(|e| ledger_error(&self.path, format!("migration {}: {e}", i + 1)))?;
        }
        Ok(())
    }

    /// The site, if the ledger has one yet.
    pub fn site(&self) -> Result<Option<SiteRow>> {
        self.conn
            .query_row(
                "SELECT name, slot_ms, clock_start_ms, speed FROM site WHERE id = 1",
                [],
                |r| {
                    Ok(SiteRow {
                        name: r.get(0)?,
                        slot_ms: r.get::<_, i64>(1)? as u64,
                        clock_start_ms: r.get::<_, i64>(2)? as u64,
                        speed: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Writes the site and its circuits (once, when the ledger is new).
    pub fn create_site(&mut self, site: &SiteRow, circuits: &[CircuitSpec]) -> Result<()> {
        let now = crate::clock::unix_ms() as i64;
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| ledger_error(&path, e))?;
        tx.execute(
            "INSERT INTO site (id, name, slot_ms, clock_start_ms, speed, created_ms) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![site.name, site.slot_ms as i64, site.clock_start_ms as i64, site.speed, now],
        )
        .map_err(|e| ledger_error(&path, e))?;
        for (ix, c) in circuits.iter().enumerate() {
            tx.execute(
                "INSERT INTO circuits (ix, name, parent, rating_mw) VALUES (?1, ?2, ?3, ?4)",
                params![ix as i64, c.name, c.parent, c.rating_mw],
            )
            .map_err(|e| ledger_error(&path, e))?;
        }
        tx.commit().map_err(|e| ledger_error(&path, e))
    }

    /// The circuits, root first, in the order they were given.
    pub fn circuits(&self) -> Result<Vec<CircuitSpec>> {
        let mut st = self
            .conn
            .prepare("SELECT name, parent, rating_mw FROM circuits ORDER BY ix")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(CircuitSpec {
                    name: r.get(0)?,
                    parent: r.get(1)?,
                    rating_mw: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Registers devices in one transaction; an id already registered, or a circuit the
    /// site does not have, refuses them all.
    pub fn add_devices(&mut self, rows: &[DeviceRow]) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        {
            let mut known = tx
                .prepare("SELECT COUNT(*) FROM devices WHERE id = ?1")
                .map_err(|e| ledger_error(&path, e))?;
            let mut circuit = tx
                .prepare("SELECT COUNT(*) FROM circuits WHERE name = ?1")
                .map_err(|e| ledger_error(&path, e))?;
            let mut ins = tx
                .prepare(
                    "INSERT INTO devices (id, circuit, max_priority, port, key_generation, key_fingerprint, added_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| ledger_error(&path, e))?;
            for d in rows {
                let n: i64 = known
                    .query_row([d.id.as_str()], |r| r.get(0))
                    .map_err(|e| ledger_error(&path, e))?;
                if n > 0 {
                    return Err(ServerError::invalid(
                        format!("device '{}'", d.id),
                        "is already registered",
                    ));
                }
                let c: i64 = circuit
                    .query_row([&d.circuit], |r| r.get(0))
                    .map_err(|e| ledger_error(&path, e))?;
                if c == 0 {
                    return Err(ServerError::invalid(
                        format!("device '{}'", d.id),
                        format!("circuit '{}' does not exist at this site", d.circuit),
                    ));
                }
                ins.execute(params![
                    d.id.as_str(),
                    d.circuit,
                    d.max_priority.name(),
                    d.port,
                    d.key_generation,
                    d.key_fingerprint,
                    crate::clock::unix_ms() as i64
                ])
                .map_err(|e| classify(&path, e))?;
            }
        }
        tx.commit().map_err(|e| classify(&path, e))
    }

    /// Registers one device (see [`Ledger::add_devices`]).
    pub fn add_device(&mut self, d: &DeviceRow) -> Result<()> {
        self.add_devices(std::slice::from_ref(d))
    }

    /// Every registered device, by id.
    pub fn devices(&self) -> Result<Vec<DeviceRow>> {
        let mut st = self
            .conn
            .prepare("SELECT id, circuit, max_priority, port, key_generation, key_fingerprint FROM devices ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, circuit, prio, port, key_generation, key_fingerprint) =
                row.map_err(|e| self.err(e))?;
            out.push(DeviceRow {
                id: DeviceId::new(id.clone())
                    .map_err(|e| self.err(format!("device '{id}': {e}")))?,
                circuit,
                max_priority: Priority::parse(&prio)
                    .ok_or_else(|| self.err(format!("device '{id}': class '{prio}'")))?,
                port,
                key_generation,
                key_fingerprint,
            });
        }
        Ok(out)
    }

    /// What a restarted coordinator needs: the last epoch, the live awards, the requests
    /// waiting, each device's last sequence number.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let epoch: u32 = self
            .conn
            .query_row("SELECT COALESCE(MAX(epoch), 0) FROM epochs", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        let awards = self.json_column::<AwardRecord>(
            "SELECT record FROM awards WHERE live = 1 ORDER BY device, request",
        )?;
        let mut waiting = Vec::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT device, body FROM requests WHERE state = 'waiting' ORDER BY arrived_ms, device, request")
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (d, body) = row.map_err(|e| self.err(e))?;
                let id = DeviceId::new(d).map_err(|e| self.err(e))?;
                let req: TimeslotRequest =
                    serde_json::from_str(&body).map_err(|e| self.err(format!("request: {e}")))?;
                waiting.push((id, req));
            }
        }
        let mut last_seq = Vec::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT id, last_seq FROM devices WHERE last_seq > 0 ORDER BY id")
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (d, s) = row.map_err(|e| self.err(e))?;
                last_seq.push((DeviceId::new(d).map_err(|e| self.err(e))?, s as u64));
            }
        }
        Ok(Snapshot {
            epoch,
            awards,
            waiting,
            last_seq,
        })
    }

    fn json_column<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>> {
        let mut st = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(|e| self.err(e))?;
            out.push(serde_json::from_str(&text).map_err(|e| self.err(format!("{sql}: {e}")))?);
        }
        Ok(out)
    }

    /// Writes a batch in one transaction; nothing of it is written if any part fails.
    pub fn write(&mut self, b: &Batch) -> Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let classify = |e: rusqlite::Error| classify(&path, e);
        let now = b.now_ms as i64;
        let tx = self.conn.transaction().map_err(classify)?;
        {
            let mut epoch: i64 = tx
                .query_row("SELECT COALESCE(MAX(epoch), 0) FROM epochs", [], |r| {
                    r.get(0)
                })
                .map_err(classify)?;
            let mut ins_req = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO requests (device, request, state, priority, kind, earliest_start, deadline, body, arrived_ms, updated_ms) VALUES (?1, ?2, 'waiting', ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                )
                .map_err(classify)?;
            for (d, r) in &b.new_requests {
                ins_req
                    .execute(params![
                        d.as_str(),
                        r.request as i64,
                        r.priority.name(),
                        r.demand.kind(),
                        r.earliest_start,
                        r.deadline,
                        json(r),
                        now
                    ])
                    .map_err(classify)?;
            }
            let mut upd_req = tx
                .prepare_cached(
                    "UPDATE requests SET state = ?3, updated_ms = ?4 WHERE device = ?1 AND request = ?2 AND state != 'ended'",
                )
                .map_err(classify)?;
            for (d, r, s) in &b.request_states {
                upd_req
                    .execute(params![d.as_str(), *r as i64, s.name(), now])
                    .map_err(classify)?;
            }
            let mut up_award = tx
                .prepare_cached(
                    "INSERT INTO awards (device, request, version, priority, kind, start_slot, end_slot, peak_mw, live, end_reason, record, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, NULL, ?9, ?10)
                     ON CONFLICT (device, request) DO UPDATE SET version = ?3, priority = ?4, kind = ?5, start_slot = ?6,
                       end_slot = ?7, peak_mw = ?8, live = 1, end_reason = NULL, record = ?9, updated_ms = ?10",
                )
                .map_err(classify)?;
            let mut ins_version = tx
                .prepare_cached(
                    "INSERT INTO award_versions (device, request, version, epoch, record, stored_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(classify)?;
            let mut end_award = tx
                .prepare_cached(
                    "UPDATE awards SET live = 0, end_reason = ?3, updated_ms = ?4 WHERE device = ?1 AND request = ?2",
                )
                .map_err(classify)?;
            for (_, rec) in &b.stores {
                match rec {
                    Record::Award(a) => {
                        let text = json(a);
                        let peak = a.grant.power_mw.iter().copied().max().unwrap_or(0);
                        up_award
                            .execute(params![
                                a.device.as_str(),
                                a.request as i64,
                                a.version,
                                a.priority.name(),
                                a.kind,
                                a.grant.start,
                                a.grant.end(),
                                peak,
                                text,
                                now
                            ])
                            .map_err(classify)?;
                        ins_version
                            .execute(params![
                                a.device.as_str(),
                                a.request as i64,
                                a.version,
                                epoch,
                                text,
                                now
                            ])
                            .map_err(classify)?;
                    }
                    Record::AwardEnded {
                        device,
                        request,
                        reason,
                    } => {
                        let reason = serde_json::to_value(reason)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        end_award
                            .execute(params![device.as_str(), *request as i64, reason, now])
                            .map_err(classify)?;
                    }
                    Record::Epoch(e) => {
                        epoch = i64::from(*e);
                        tx.execute(
                            "INSERT OR REPLACE INTO epochs (epoch, started_ms) VALUES (?1, ?2)",
                            params![epoch, now],
                        )
                        .map_err(classify)?;
                    }
                }
            }
            let mut seq = tx
                .prepare_cached("UPDATE devices SET last_seq = MAX(last_seq, ?2) WHERE id = ?1")
                .map_err(classify)?;
            for (d, s) in &b.last_seq {
                seq.execute(params![d.as_str(), *s as i64])
                    .map_err(classify)?;
            }
            let mut tel = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO telemetry (device, slot, measured_mw, at_ms) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(classify)?;
            let mut fc = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO forecasts (device, from_slot, p50_mw, p90_mw, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(classify)?;
            for (d, t) in &b.telemetry {
                tel.execute(params![d.as_str(), t.slot, t.measured_mw, now])
                    .map_err(classify)?;
                if !t.forecast.is_empty() {
                    let p50: Vec<i64> = t.forecast.iter().map(|v| v.p50_mw).collect();
                    let p90: Vec<i64> = t.forecast.iter().map(|v| v.p90_mw).collect();
                    fc.execute(params![
                        d.as_str(),
                        t.slot.saturating_add(1),
                        json(&p50),
                        json(&p90),
                        now
                    ])
                    .map_err(classify)?;
                }
            }
            for (c, from, values) in &b.budget {
                tx.execute(
                    "INSERT OR REPLACE INTO budget (circuit, from_slot, values_mw, at_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![c, from, json(values), now],
                )
                .map_err(classify)?;
            }
            let mut log = tx
                .prepare_cached(
                    "INSERT INTO negotiation_log (at_ms, slot, device, request, event, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(classify)?;
            for l in &b.log {
                log.execute(params![
                    l.at_ms as i64,
                    l.slot,
                    l.device,
                    l.request.map(|r| r as i64),
                    l.event,
                    json(&l.detail)
                ])
                .map_err(classify)?;
            }
            let mut cs = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO circuit_slots (circuit, slot, capacity_mw, committed_mw, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(classify)?;
            for (c, slot, cap, committed) in &b.circuit_slots {
                cs.execute(params![c, slot, cap, committed, now])
                    .map_err(classify)?;
            }
        }
        tx.commit().map_err(classify)
    }

    /// Grants overlapping slots `[from, to)`, live or ended, by start.
    pub fn awards_between(&self, from: Slot, to: Slot) -> Result<Vec<AwardRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT record, live, end_reason FROM awards WHERE start_slot < ?2 AND end_slot > ?1 ORDER BY start_slot, device, request LIMIT 10000",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![from, to], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (rec, live, end_reason) = row.map_err(|e| self.err(e))?;
            out.push(AwardRow {
                record: serde_json::from_str(&rec).map_err(|e| self.err(e))?,
                live,
                end_reason,
            });
        }
        Ok(out)
    }

    /// Every stored version of every grant: (device, request, version, epoch). The audit
    /// trail the reliability tests read.
    pub fn award_versions(&self) -> Result<Vec<(String, RequestId, u32, u32)>> {
        let mut st = self
            .conn
            .prepare("SELECT device, request, version, epoch FROM award_versions ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)? as RequestId,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Log lines after `after_id`, oldest first, at most `limit`, optionally of one device.
    pub fn log(&self, after_id: i64, limit: u32, device: Option<&str>) -> Result<Vec<LogEntry>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, at_ms, slot, device, request, event, detail FROM negotiation_log
                 WHERE id > ?1 AND (?2 IS NULL OR device = ?2) ORDER BY id LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![after_id, device, limit], |r| {
                Ok(LogEntry {
                    id: r.get(0)?,
                    at_ms: r.get::<_, i64>(1)? as u64,
                    slot: r.get(2)?,
                    device: r.get(3)?,
                    request: r.get::<_, Option<i64>>(4)?.map(|v| v as RequestId),
                    event: r.get(5)?,
                    detail: serde_json::from_str(&r.get::<_, String>(6)?)
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The last `limit` log lines (optionally of one device), oldest first.
    pub fn log_tail(&self, limit: u32, device: Option<&str>) -> Result<Vec<LogEntry>> {
        let newest: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(id), 0) FROM negotiation_log WHERE (?1 IS NULL OR device = ?1)",
                params![device],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare(
                "SELECT id FROM negotiation_log WHERE id <= ?1 AND (?2 IS NULL OR device = ?2)
                 ORDER BY id DESC LIMIT 1 OFFSET ?3",
            )
            .map_err(|e| self.err(e))?;
        let first: Option<i64> = st
            .query_row(params![newest, device, limit.saturating_sub(1)], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        self.log(first.map_or(0, |f| f - 1), limit, device)
    }

    /// What each slot of `[from, to)` had on a circuit as it passed: (slot, capacity,
    /// committed), mW; slots the coordinator did not run through are missing.
    pub fn circuit_slots(
        &self,
        circuit: &str,
        from: Slot,
        to: Slot,
    ) -> Result<Vec<(Slot, i64, i64)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT slot, capacity_mw, committed_mw FROM circuit_slots
                 WHERE circuit = ?1 AND slot >= ?2 AND slot < ?3 ORDER BY slot",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![circuit, from, to], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The budgets published for a circuit whose first slot is in `[from, to)`: (first slot,
    /// capacity per slot, the last holding on), oldest first. Each is the latest publication
    /// starting at that slot.
    pub fn budgets(&self, circuit: &str, from: Slot, to: Slot) -> Result<Vec<(Slot, Vec<i64>)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT from_slot, values_mw FROM budget
                 WHERE circuit = ?1 AND from_slot >= ?2 AND from_slot < ?3 ORDER BY from_slot",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![circuit, from, to], |r| {
                Ok((r.get::<_, Slot>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (from_slot, values) = row.map_err(|e| self.err(e))?;
            out.push((
                from_slot,
                serde_json::from_str(&values).map_err(|e| self.err(e))?,
            ));
        }
        Ok(out)
    }

    /// The forecasts a device sent whose first slot is in `[from, to)`, oldest first.
    pub fn forecasts_between(
        &self,
        device: &str,
        from: Slot,
        to: Slot,
    ) -> Result<Vec<ForecastRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT device, from_slot, p50_mw, p90_mw, at_ms FROM forecasts
                 WHERE device = ?1 AND from_slot >= ?2 AND from_slot < ?3 ORDER BY from_slot",
            )
            .map_err(|e| self.err(e))?;
        self.forecast_rows(&mut st, params![device, from, to])
    }

    fn forecast_rows(
        &self,
        st: &mut rusqlite::Statement<'_>,
        p: impl rusqlite::Params,
    ) -> Result<Vec<ForecastRow>> {
        let rows = st
            .query_map(p, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Slot>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (device, from_slot, p50, p90, at) = row.map_err(|e| self.err(e))?;
            out.push(ForecastRow {
                device,
                from_slot,
                p50_mw: serde_json::from_str(&p50).map_err(|e| self.err(e))?,
                p90_mw: serde_json::from_str(&p90).map_err(|e| self.err(e))?,
                at_ms: at as u64,
            });
        }
        Ok(out)
    }

    /// The latest forecast of each device (or of one).
    pub fn forecasts(&self, device: Option<&str>) -> Result<Vec<ForecastRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT f.device, f.from_slot, f.p50_mw, f.p90_mw, f.at_ms FROM forecasts f
                 JOIN (SELECT device, MAX(from_slot) AS m FROM forecasts GROUP BY device) l
                   ON f.device = l.device AND f.from_slot = l.m
                 WHERE (?1 IS NULL OR f.device = ?1) ORDER BY f.device",
            )
            .map_err(|e| self.err(e))?;
        self.forecast_rows(&mut st, params![device])
    }

    /// Measured power of a device in slots `[from, to)`: (slot, mW).
    pub fn telemetry(&self, device: &str, from: Slot, to: Slot) -> Result<Vec<(Slot, i64)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT slot, measured_mw FROM telemetry WHERE device = ?1 AND slot >= ?2 AND slot < ?3 ORDER BY slot",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![device, from, to], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }
}

/// Turns SQLite's read-only and full errors into their own messages.
fn classify(path: &Path, e: rusqlite::Error) -> ServerError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            rusqlite::ErrorCode::ReadOnly => return ServerError::ReadOnly(path.to_path_buf()),
            rusqlite::ErrorCode::DiskFull => {
                return ledger_error(
                    path,
                    "the disk (or the ledger's size limit) is full: nothing more can be stored, so nothing more is granted",
                );
            }
            _ => {}
        }
    }
    ledger_error(path, e)
}

fn ledger_error(path: &Path, e: impl std::fmt::Display) -> ServerError {
    ServerError::Ledger {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_protocol::msg::Grant;
    use powerslot_protocol::output::EndReason;
    use powerslot_protocol::{Demand, PowerValue};

    fn site() -> SiteRow {
        SiteRow {
            name: "home".into(),
            slot_ms: 60_000,
            clock_start_ms: 0,
            speed: 1.0,
        }
    }

    fn circuits() -> Vec<CircuitSpec> {
        vec![CircuitSpec {
            name: "site".into(),
            parent: None,
            rating_mw: 10_000_000,
        }]
    }

    fn device(id: &str) -> DeviceRow {
        DeviceRow {
            id: DeviceId::new(id).unwrap(),
            circuit: "site".into(),
            max_priority: Priority::High,
            port: 1,
            key_generation: 1,
            key_fingerprint: "00".into(),
        }
    }

    fn award(dev: &str, request: u64, version: u32) -> AwardRecord {
        let g = Grant {
            start: 3,
            power_mw: vec![2_000_000; 4],
        };
        AwardRecord {
            device: DeviceId::new(dev).unwrap(),
            request,
            priority: Priority::Normal,
            kind: "power_profile".into(),
            preemptible: false,
            version,
            grant: g.clone(),
            booked: g,
            valid_until: 5,
            tiebreak: 1,
            deadline: 10,
        }
    }

    fn request(n: u64) -> TimeslotRequest {
        TimeslotRequest {
            request: n,
            priority: Priority::Normal,
            earliest_start: 0,
            deadline: 10,
            demand: Demand::PowerProfile {
                profile: vec![PowerValue::exact(1_000_000); 2],
                interruptible: false,
                min_on_slots: 0,
                min_off_slots: 0,
            },
            bid_per_mille: 1000,
        }
    }

    #[test]
    fn a_new_ledger_is_migrated_and_keeps_site_devices_and_awards() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.db");
        let mut l = Ledger::open(&p).unwrap();
        assert_eq!(l.schema_version().unwrap() as usize, MIGRATIONS.len());
        assert_eq!(l.site().unwrap(), None);
        l.create_site(&site(), &circuits()).unwrap();
        l.add_device(&device("ev")).unwrap();
        l.add_device(&device("dw")).unwrap();
        assert!(l.add_device(&device("ev")).is_err(), "ids are unique");
        let mut bad = device("x");
        bad.circuit = "nowhere".into();
        assert!(
            l.add_device(&bad)
                .unwrap_err()
                .to_string()
                .contains("nowhere")
        );

        let ev = DeviceId::new("ev").unwrap();
        let dw = DeviceId::new("dw").unwrap();
        let mut b = Batch {
            now_ms: 1,
            ..Batch::default()
        };
        b.stores.push((1, Record::Epoch(1)));
        b.stores.push((2, Record::Award(award("ev", 1, 1))));
        b.new_requests.push((ev.clone(), request(1)));
        b.new_requests.push((dw.clone(), request(4)));
        b.request_states
            .push((ev.clone(), 1, RequestState::Awarded));
        b.last_seq.insert(ev.clone(), 3);
        b.last_seq.insert(dw.clone(), 4);
        l.write(&b).unwrap();
        drop(l);

        // Reopened (as after a restart): the same state comes back.
        let l = Ledger::open(&p).unwrap();
        let snap = l.snapshot().unwrap();
        assert_eq!(snap.epoch, 1);
        assert_eq!(snap.awards, vec![award("ev", 1, 1)]);
        assert_eq!(snap.waiting, vec![(dw.clone(), request(4))]);
        assert_eq!(snap.last_seq, vec![(dw, 4), (ev.clone(), 3)]);
        assert_eq!(l.devices().unwrap().len(), 2);
        assert_eq!(l.awards_between(0, 100).unwrap().len(), 1);
        assert!(l.awards_between(7, 100).unwrap().is_empty());

        let mut l = l;
        let mut b = Batch::default();
        b.stores.push((
            3,
            Record::AwardEnded {
                device: ev.clone(),
                request: 1,
                reason: EndReason::Released,
            },
        ));
        l.write(&b).unwrap();
        assert!(l.snapshot().unwrap().awards.is_empty());
        let rows = l.awards_between(0, 100).unwrap();
        assert_eq!(rows[0].end_reason.as_deref(), Some("released"));
        assert_eq!(l.award_versions().unwrap(), vec![("ev".into(), 1, 1, 1)]);
    }

    #[test]
    fn a_full_ledger_fails_the_whole_batch_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.db");
        let mut l = Ledger::open(&p).unwrap();
        l.create_site(&site(), &circuits()).unwrap();
        l.add_device(&device("ev")).unwrap();
        l.set_max_bytes(0).unwrap();
        let mut b = Batch::default();
        for i in 0..2000 {
            b.stores.push((i + 1, Record::Award(award("ev", i, 1))));
        }
        let e = l.write(&b).unwrap_err().to_string();
        assert!(e.contains("full"), "{e}");
        assert!(
            l.snapshot().unwrap().awards.is_empty(),
            "nothing half-written"
        );
    }

    #[test]
    fn a_read_only_ledger_is_refused_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.db");
        let mut l = Ledger::open(&p).unwrap();
        l.create_site(&site(), &circuits()).unwrap();
        drop(l);
        let mut r = Ledger::open_read_only(&p).unwrap();
        assert_eq!(r.site().unwrap(), Some(site()));
        let mut b = Batch::default();
        b.stores.push((1, Record::Epoch(1)));
        assert!(matches!(r.write(&b), Err(ServerError::ReadOnly(_))));
        let missing = dir.path().join("missing.db");
        assert!(Ledger::open_read_only(&missing).is_err());
    }
}
