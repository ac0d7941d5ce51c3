//! `powerslot serve`: the coordinator of one site as a running service.
//!
//! [`start`] opens the ledger, rebuilds the coordinator machine from it, starts the embedded
//! broker (or dials an external one), and spawns one task — the **loop** — that owns the
//! machine and the ledger. Each turn of the loop takes what arrived (frames from MQTT,
//! commands from the HTTP API, the machine's timer, newly registered devices), feeds it to
//! the machine, drains the machine's outputs, commits one ledger transaction with everything
//! the turn produced, tells the machine `StoreDone`, and only then publishes. A failed commit
//! publishes no award (the machine holds them until `StoreDone`); the batch is kept and
//! retried every second, the health endpoint says why, and `/metrics` counts the failures.
//!
//! Frames are opened here, before the machine sees them: size first, then the HMAC tag with
//! the key of the device the message names, then the topic must be that device's own. The
//! machine refuses replays and rate-limits each device. Every refusal is logged and counted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use powerslot_core::Slot;
use powerslot_protocol::circuit::CircuitSpec;
use powerslot_protocol::codec::{self, Encoding, Key};
use powerslot_protocol::coordinator::{
    CoordInput, Coordinator, CoordinatorConfig, DeviceRecord, OperatorCommand, Stats,
};
use powerslot_protocol::msg::{Body, InstructionKind, RequestId, TimeslotRequest};
use powerslot_protocol::output::{AwardRecord, Event, Output, SecurityProblem};
use powerslot_protocol::{CircuitTree, DeviceId, Instant, Priority, ProtocolError, SlotClock};
use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::error::{Result, ServerError};
use crate::keys::{self, SiteSecret};
use crate::ledger::{Batch, DeviceRow, Ledger, LogEntry, RequestState, SiteRow};
use crate::metrics::{Metrics, Refusal};
use crate::mqtt::{self, BrokerAddr, ClientEvent, EmbeddedBroker, Logins, Topics};

/// Which broker the coordinator uses.
#[derive(Clone, Debug)]
pub enum BrokerChoice {
    /// Start rumqttd in this process, listening here (port 0: a free one).
    Embedded(SocketAddr),
    /// Dial a broker somebody else runs.
    External(BrokerAddr),
}

/// The site, as the first start creates it. On later starts the ledger's values hold and
/// any value given here must match them.
#[derive(Clone, Debug, Default)]
pub struct SiteSetup {
    /// Slot length, ms.
    pub slot_ms: Option<u64>,
    /// Protocol time (real or compressed).
    pub clock: Option<Clock>,
    /// The circuits.
    pub circuits: Option<Vec<CircuitSpec>>,
}

/// Knobs of the coordinator machine (protocol defaults when `None`).
#[derive(Clone, Debug, Default)]
pub struct Tuning {
    /// Slots planned ahead.
    pub horizon_slots: Option<u32>,
    /// A batch closes this long after its first request, protocol ms.
    pub batch_window_ms: Option<u64>,
    /// Messages per minute a device may send (protocol time).
    pub rate_per_minute: Option<u32>,
    /// Messages a device may send in a burst.
    pub rate_burst: Option<u32>,
}

/// Everything `serve` needs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Folder of the ledger (`ledger.db`), the site secret (`site.key`) and the API token.
    pub data_dir: PathBuf,
    /// The site's name (topic prefix).
    pub site: String,
    /// The site's grid and circuits.
    pub setup: SiteSetup,
    /// The broker.
    pub broker: BrokerChoice,
    /// Where the HTTP API listens (`None`: no API).
    pub http: Option<SocketAddr>,
    /// Cap on the ledger's size, bytes.
    pub max_ledger_bytes: Option<u64>,
    /// Machine knobs.
    pub tuning: Tuning,
}

impl ServeOptions {
    /// Defaults: embedded broker on a free loopback port, API on a free loopback port,
    /// one-minute slots in real time, a 10 kW single-circuit site.
    pub fn new(data_dir: impl Into<PathBuf>, site: &str) -> Self {
        Self {
            data_dir: data_dir.into(),
            site: site.into(),
            setup: SiteSetup::default(),
            broker: BrokerChoice::Embedded(SocketAddr::from(([127, 0, 0, 1], 0))),
            http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            max_ledger_bytes: None,
            tuning: Tuning::default(),
        }
    }

    /// The ledger file.
    pub fn ledger_path(&self) -> PathBuf {
        self.data_dir.join("ledger.db")
    }
}

/// Default slot length when neither the ledger nor the options give one: 15 minutes.
pub const DEFAULT_SLOT_MS: u64 = 900_000;

/// A device as the API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceView {
    /// Its id.
    pub id: String,
    /// Its circuit.
    pub circuit: String,
    /// The highest class it may ask for.
    pub max_priority: Priority,
    /// The class its requests get now (an operator may have changed it).
    pub priority: Priority,
    /// Whether an operator paused it.
    pub paused: bool,
    /// Last measured power, mW, and the slot it was measured in.
    pub measured_mw: Option<i64>,
    /// The slot of that measurement.
    pub measured_slot: Option<Slot>,
    /// Its key's generation.
    pub key_generation: u32,
    /// Its key's fingerprint.
    pub key_fingerprint: String,
    /// What it is doing now: `offline` (not heard for two slots), `paused`, `shed`,
    /// `scaled`, `running` (a grant draws in this slot), `awarded` (a grant ahead),
    /// `waiting` (a request waits for capacity) or `idle`.
    pub state: &'static str,
    /// When the coordinator last accepted a message from it, protocol ms (since this start).
    pub last_heard_ms: Option<u64>,
}

/// A circuit of the site's tree.
#[derive(Clone, Debug, Serialize)]
pub struct CircuitView {
    /// Its name.
    pub name: String,
    /// The circuit it hangs from (`None`: the root).
    pub parent: Option<String>,
    /// Its rating, mW.
    pub rating_mw: i64,
    /// The devices on it or on any circuit below it.
    pub devices: Vec<String>,
}

/// What the service tells subscribers (the dashboard's event stream) after each turn that
/// changed something: the page re-reads what it shows through the API.
#[derive(Clone, Debug, Serialize)]
pub struct Notice {
    /// Protocol time, ms.
    pub now_ms: u64,
    /// The current slot.
    pub slot: Slot,
    /// What changed: names of the log events committed (`request`, `awarded`, `rejected`,
    /// `instructed`, `security`, `operator`, ...), `telemetry`, `budget`, `slot` (a new slot
    /// began).
    pub changes: Vec<String>,
}

/// What the coordinator knows a device is doing, for [`Activity::state`].
struct Activity {
    /// When it was last heard.
    heard: Option<Instant>,
    paused: bool,
    /// The last instruction of each of its grants that is scaled or shed.
    instructed: Vec<InstructionKind>,
    /// One of its grants draws in the current slot.
    draws_now: bool,
    holds_grant: bool,
    waiting: bool,
}

impl Activity {
    /// The state, in the order states win: a device both shed and waiting shows `shed`.
    fn state(&self, now: Instant, slot_ms: u64) -> &'static str {
        if self
            .heard
            .is_none_or(|t| now.0.saturating_sub(t.0) > 2 * slot_ms)
        {
            "offline"
        } else if self.paused {
            "paused"
        } else if self.instructed.contains(&InstructionKind::Shed) {
            "shed"
        } else if self.instructed.contains(&InstructionKind::Scale) {
            "scaled"
        } else if self.draws_now {
            "running"
        } else if self.holds_grant {
            "awarded"
        } else if self.waiting {
            "waiting"
        } else {
            "idle"
        }
    }
}

/// The service's state for `/api/health`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// The site.
    pub site: String,
    /// `ok`, or `degraded` when the ledger or the broker is failing.
    pub status: &'static str,
    /// Whether the last ledger write succeeded.
    pub ledger_ok: bool,
    /// The last ledger error, if it is failing.
    pub ledger_error: Option<String>,
    /// Whether the coordinator is connected to its broker.
    pub mqtt_connected: bool,
    /// The broker.
    pub broker: String,
    /// Protocol time, ms.
    pub now_ms: u64,
    /// The current slot.
    pub slot: Slot,
    /// Slot length, ms.
    pub slot_ms: u64,
    /// How much faster than the wall clock protocol time runs.
    pub speed: f64,
    /// Registered devices.
    pub devices: usize,
    /// Live grants.
    pub live_awards: usize,
    /// Requests waiting for capacity.
    pub waiting: usize,
    /// The machine's counters.
    pub stats: StatsView,
}

/// The coordinator machine's counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StatsView {
    /// Requests received.
    pub requests: u64,
    /// Grants made.
    pub awards: u64,
    /// Rejects sent.
    pub rejects: u64,
    /// Messages refused for security reasons.
    pub security_rejects: u64,
    /// Lower classes paused or scaled for higher ones.
    pub preemptions: u64,
    /// Negotiation batches run.
    pub batches: u64,
    /// Overloads handled.
    pub overloads: u64,
    /// Negotiation messages.
    pub negotiation_messages: u64,
}

impl From<&Stats> for StatsView {
    fn from(s: &Stats) -> Self {
        Self {
            requests: s.requests,
            awards: s.awards,
            rejects: s.rejects,
            security_rejects: s.security_rejects,
            preemptions: s.preemptions,
            batches: s.batches,
            overloads: s.overloads,
            negotiation_messages: s.negotiation_messages,
        }
    }
}

/// One slot of the allocation.
#[derive(Clone, Debug, Serialize)]
pub struct SlotAllocation {
    /// The slot.
    pub slot: Slot,
    /// Power granted in it, mW.
    pub total_mw: i64,
    /// The grants drawing in it.
    pub grants: Vec<GrantShare>,
}

/// One device's share of a slot.
#[derive(Clone, Debug, Serialize)]
pub struct GrantShare {
    /// The device.
    pub device: String,
    /// The request.
    pub request: RequestId,
    /// Its class.
    pub priority: Priority,
    /// Granted power, mW.
    pub power_mw: i64,
}

/// One circuit's budget and what is committed on it, slot by slot.
#[derive(Clone, Debug, Serialize)]
pub struct BudgetCurve {
    /// The circuit.
    pub circuit: String,
    /// Its rating, mW.
    pub rating_mw: i64,
    /// First slot.
    pub from_slot: Slot,
    /// Capacity per slot, mW.
    pub capacity_mw: Vec<i64>,
    /// Committed per slot, mW: grants plus what is held for load nobody controls.
    pub committed_mw: Vec<i64>,
    /// Of the committed power, what is held for load nobody controls (household meters,
    /// forecasts), per slot, mW. Where it alone exceeds the capacity no grant can help; the
    /// coordinator then grants nothing there.
    pub reserved_mw: Vec<i64>,
    /// What that load is expected to draw (its forecasts' P50; the reservation where no
    /// forecast covers the slot), per slot, mW: the energy a battery is kept for.
    pub expected_mw: Vec<i64>,
    /// What critical elastic loads ask, per slot, mW: kept by a budget publisher (energy
    /// and power) before anything is offered to lower classes.
    pub critical_mw: Vec<i64>,
}

/// A request waiting for capacity.
#[derive(Clone, Debug, Serialize)]
pub struct WaitingView {
    /// The device.
    pub device: String,
    /// The request.
    pub request: RequestId,
    /// Its class.
    pub priority: Priority,
    /// Waiting since this slot.
    pub since_slot: Slot,
}

/// A device just registered, with its key (shown once).
#[derive(Clone, Debug, Serialize)]
pub struct NewDevice {
    /// Its id.
    pub id: String,
    /// Its key, 64 hexadecimal digits: store it on the device; it is not shown again.
    pub key: String,
    /// Its MQTT user name.
    pub mqtt_user: String,
    /// Its MQTT password (derived from the key).
    pub mqtt_password: String,
    /// The key's fingerprint.
    pub key_fingerprint: String,
}

/// What the API asks the loop.
#[derive(Debug)]
pub enum Command {
    /// The service's state.
    Status(oneshot::Sender<Status>),
    /// Registered devices.
    Devices(oneshot::Sender<Vec<DeviceView>>),
    /// Grants per slot in `[from, to)`.
    Allocations {
        /// First slot.
        from: Slot,
        /// One past the last.
        to: Slot,
        /// The answer.
        reply: oneshot::Sender<Vec<SlotAllocation>>,
    },
    /// A circuit's budget curve in `[from, to)` (clipped to the horizon).
    Budget {
        /// The circuit (`None`: the root).
        circuit: Option<String>,
        /// First slot (`None`: now).
        from: Option<Slot>,
        /// One past the last (`None`: the horizon's end).
        to: Option<Slot>,
        /// The answer.
        reply: oneshot::Sender<Result<BudgetCurve, String>>,
    },
    /// Requests waiting.
    Waiting(oneshot::Sender<Vec<WaitingView>>),
    /// The circuit tree.
    Circuits(oneshot::Sender<Vec<CircuitView>>),
    /// A new budget for a circuit from a slot on.
    SetBudget {
        /// The circuit (`None`: the root).
        circuit: Option<String>,
        /// First slot.
        from_slot: Slot,
        /// Capacity per slot, mW (the last holds).
        values_mw: Vec<i64>,
        /// What the classes below high may use of it, per class, from the same slot
        /// ([`CoordInput::ClassBudget`]); empty: the whole budget (a curve drops the class
        /// budgets sent with the one before). Not stored: an owner sends them with every
        /// curve.
        class_budgets: Vec<(Priority, Vec<i64>)>,
        /// The answer.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// An operator's action.
    Operator {
        /// The action.
        cmd: OperatorCommand,
        /// The answer.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Register a device.
    AddDevice {
        /// Its id.
        id: DeviceId,
        /// Its circuit (`None`: the root).
        circuit: Option<String>,
        /// Highest class.
        max_priority: Priority,
        /// Port (`None`: next free).
        port: Option<u32>,
        /// The answer.
        reply: oneshot::Sender<Result<NewDevice, String>>,
    },
}

/// A handle the HTTP API (and tests) use to talk to the loop.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// The ledger file (the API reads it through its own read-only connection).
    pub ledger_path: PathBuf,
    /// The bearer token for writes.
    pub token: String,
    /// What changed, turn by turn (see [`Notice`]).
    pub notices: broadcast::Sender<Notice>,
    /// Becomes `true` when the service stops (long-lived answers such as the event stream
    /// end then, so that the HTTP server can close).
    pub stopping: watch::Receiver<bool>,
}

/// Why the loop could not answer.
pub const LOOP_GONE: &str = "the coordinator is shutting down";

impl Handle {
    /// Sends a command built around a reply channel and waits for the answer.
    pub async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.ok()?;
        rx.await.ok()
    }
}

/// A running coordinator.
#[derive(Debug)]
pub struct Running {
    /// Talks to the loop.
    pub handle: Handle,
    /// The broker it uses.
    pub broker: BrokerAddr,
    /// Where the API listens.
    pub http: Option<SocketAddr>,
    /// The site secret (devices' keys derive from it).
    pub secret: SiteSecret,
    /// The site's topics.
    pub topics: Topics,
    /// Protocol time.
    pub clock: Clock,
    /// Slot length, ms.
    pub slot_ms: u64,
    shutdown: watch::Sender<bool>,
    main: JoinHandle<Result<()>>,
    http_task: Option<JoinHandle<()>>,
    _broker: Option<EmbeddedBroker>,
}

impl Running {
    /// Stops: the loop commits what it holds, the API closes, the MQTT client disconnects.
    /// (An embedded broker ends with the process, see [`crate::mqtt`].)
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        let r = self
            .main
            .await
            .unwrap_or_else(|e| Err(ServerError::invalid("coordinator loop", e.to_string())));
        if let Some(h) = self.http_task {
            let _ = h.await;
        }
        r
    }

    /// Waits until the loop ends by itself (it does not, unless it fails).
    pub fn is_finished(&self) -> bool {
        self.main.is_finished()
    }
}

fn ensure_site(ledger: &mut Ledger, opts: &ServeOptions) -> Result<(SiteRow, Vec<CircuitSpec>)> {
    let setup = &opts.setup;
    match ledger.site()? {
        None => {
            let clock = setup.clock.unwrap_or_else(Clock::realtime);
            let site = SiteRow {
                name: opts.site.clone(),
                slot_ms: setup.slot_ms.unwrap_or(DEFAULT_SLOT_MS),
                clock_start_ms: clock.start_unix_ms(),
                speed: clock.speed(),
            };
            let circuits = setup.circuits.clone().unwrap_or_else(|| {
                vec![CircuitSpec {
                    name: "site".into(),
                    parent: None,
                    rating_mw: 10_000_000,
                }]
            });
            CircuitTree::new(circuits.clone())
                .map_err(|e| ServerError::invalid("circuits", e.to_string()))?;
            ledger.create_site(&site, &circuits)?;
            Ok((site, circuits))
        }
        Some(site) => {
            let place = ledger.path().display().to_string();
            if site.name != opts.site {
                return Err(ServerError::invalid(
                    place,
                    format!(
                        "this ledger belongs to site '{}', not '{}' (use --site {} or another --data folder)",
                        site.name, opts.site, site.name
                    ),
                ));
            }
            if let Some(ms) = setup.slot_ms
                && ms != site.slot_ms
            {
                return Err(ServerError::invalid(
                    place,
                    format!(
                        "the site's slots are {} ms long; a ledger cannot change its slot length ({} ms asked)",
                        site.slot_ms, ms
                    ),
                ));
            }
            if let Some(c) = setup.clock
                && (c.start_unix_ms() != site.clock_start_ms || c.speed() != site.speed)
            {
                return Err(ServerError::invalid(
                    place,
                    format!(
                        "the site's clock runs at speed {} from {} ms; it cannot change (speed {} from {} asked)",
                        site.speed,
                        site.clock_start_ms,
                        c.speed(),
                        c.start_unix_ms()
                    ),
                ));
            }
            let circuits = ledger.circuits()?;
            if let Some(c) = &setup.circuits
                && *c != circuits
            {
                return Err(ServerError::invalid(
                    place,
                    "the site's circuits differ from those given (they are fixed when the ledger is created)",
                ));
            }
            Ok((site, circuits))
        }
    }
}

/// A device to register: id, circuit (`None`: the root), highest class, port (`None`: the
/// next free one).
pub type DeviceSpec = (DeviceId, Option<String>, Priority, Option<u32>);

/// Registers devices in a ledger, in one transaction, and returns their key material (shown
/// once).
pub fn register_devices(
    ledger: &mut Ledger,
    secret: &SiteSecret,
    specs: &[DeviceSpec],
) -> Result<Vec<NewDevice>> {
    let circuits = ledger.circuits()?;
    let root = circuits
        .first()
        .map(|c| c.name.clone())
        .ok_or_else(|| ServerError::invalid("ledger", "the site has no circuits"))?;
    let mut next_port = ledger.devices()?.iter().map(|d| d.port).max().unwrap_or(0) + 1;
    let generation = 1;
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for (id, circuit, max_priority, port) in specs {
        let port = port.unwrap_or(next_port);
        next_port = next_port.max(port + 1);
        let key = secret.device_key(id, generation);
        rows.push(DeviceRow {
            id: id.clone(),
            circuit: circuit.clone().unwrap_or_else(|| root.clone()),
            max_priority: *max_priority,
            port,
            key_generation: generation,
            key_fingerprint: keys::fingerprint(&key),
        });
        out.push(NewDevice {
            id: id.to_string(),
            key: keys::hex(&key),
            mqtt_user: id.to_string(),
            mqtt_password: keys::mqtt_password(&key),
            key_fingerprint: keys::fingerprint(&key),
        });
    }
    ledger.add_devices(&rows)?;
    Ok(out)
}

/// Registers one device (see [`register_devices`]).
pub fn register_device(
    ledger: &mut Ledger,
    secret: &SiteSecret,
    id: &DeviceId,
    circuit: Option<&str>,
    max_priority: Priority,
    port: Option<u32>,
) -> Result<NewDevice> {
    let spec = (id.clone(), circuit.map(str::to_owned), max_priority, port);
    Ok(register_devices(ledger, secret, &[spec])?.remove(0))
}

/// Opens the site's data folder: the secret (created if new) and the ledger.
pub fn open_site(data_dir: &std::path::Path, site: &str) -> Result<(SiteSecret, Ledger)> {
    std::fs::create_dir_all(data_dir).map_err(|e| ServerError::io(data_dir, e))?;
    let secret = SiteSecret::load_or_create(&data_dir.join("site.key"), site)?;
    let ledger = Ledger::open(&data_dir.join("ledger.db"))?;
    Ok((secret, ledger))
}

/// Opens the site's folder and creates the site in its ledger if it is new (or checks that
/// the options agree with it): what `serve` does first, and what registering devices before
/// the first start needs.
pub fn prepare(opts: &ServeOptions) -> Result<(SiteSecret, Ledger)> {
    Topics::new(&opts.site)?;
    let (secret, mut ledger) = open_site(&opts.data_dir, &opts.site)?;
    ensure_site(&mut ledger, opts)?;
    Ok((secret, ledger))
}

/// Opens a site that exists already (for `powerslot devices add`).
pub fn open_existing(data_dir: &std::path::Path, site: &str) -> Result<(SiteSecret, Ledger)> {
    let path = data_dir.join("ledger.db");
    if !path.exists() {
        return Err(ServerError::invalid(
            data_dir.display().to_string(),
            "no site here yet: start `powerslot serve --data <this folder>` once, or register devices with `serve --add-device`",
        ));
    }
    let (secret, ledger) = open_site(data_dir, site)?;
    match ledger.site()? {
        Some(s) if s.name == site => Ok((secret, ledger)),
        Some(s) => Err(ServerError::invalid(
            path.display().to_string(),
            format!("this ledger belongs to site '{}', not '{site}'", s.name),
        )),
        None => Err(ServerError::invalid(
            path.display().to_string(),
            "the ledger has no site yet: start `powerslot serve` once",
        )),
    }
}

/// Starts the coordinator (see the module docs). Must run inside a multi-threaded tokio
/// runtime (ledger commits block their thread).
pub async fn start(opts: ServeOptions) -> Result<Running> {
    let topics = Topics::new(&opts.site)?;
    let (secret, mut ledger) = open_site(&opts.data_dir, &opts.site)?;
    if let Some(b) = opts.max_ledger_bytes {
        ledger.set_max_bytes(b)?;
    }
    let (site, circuits) = ensure_site(&mut ledger, &opts)?;
    let clock = Clock::compressed(site.clock_start_ms, site.speed);
    let tree =
        CircuitTree::new(circuits).map_err(|e| ServerError::invalid("circuits", e.to_string()))?;
    let slot_clock = SlotClock::new(Instant(0), site.slot_ms);
    let token = secret.api_token();
    keys::write_private(&opts.data_dir.join("api.token"), &token)?;

    let rows = ledger.devices()?;
    let mut cfg = CoordinatorConfig::new(tree.clone(), slot_clock, Vec::new());
    let t = &opts.tuning;
    if let Some(h) = t.horizon_slots {
        cfg.horizon_slots = h.clamp(1, powerslot_protocol::limits::MAX_HORIZON_SLOTS);
    }
    if let Some(w) = t.batch_window_ms {
        cfg.batch_window_ms = w;
    }
    if let Some(r) = t.rate_per_minute {
        cfg.rate_per_minute = r;
    }
    if let Some(b) = t.rate_burst {
        cfg.rate_burst = b;
    }
    let logins: Logins = Arc::new(RwLock::new(HashMap::new()));
    logins
        .write()
        .expect("not poisoned")
        .insert(keys::COORDINATOR_USER.into(), secret.coordinator_password());
    let mut devices = Devices::default();
    for row in &rows {
        let rec = devices.add(row, &tree, &secret, &logins)?;
        cfg.devices.push(rec);
    }
    let snapshot = ledger.snapshot()?;
    let coord = Coordinator::new(cfg, clock.now(), Some(snapshot))?;

    let (embedded, broker) = match &opts.broker {
        BrokerChoice::Embedded(listen) => {
            let b = EmbeddedBroker::start(*listen, logins.clone())?;
            let addr = b.broker_addr();
            (Some(b), addr)
        }
        BrokerChoice::External(addr) => {
            mqtt::resolve(addr)?;
            (None, addr.clone())
        }
    };
    let mut mo = mqtt::options(
        &broker,
        &format!("powerslot-{}-coordinator", topics.site()),
        keys::COORDINATOR_USER,
        &secret.coordinator_password(),
    );
    // A persistent session: an external broker keeps the devices' QoS 1 messages while the
    // coordinator restarts.
    mo.set_clean_session(false);
    let (client, el) = AsyncClient::new(mo, 20_000);
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    tokio::spawn(mqtt::run_client(
        el,
        client.clone(),
        vec![topics.up_filter()],
        ev_tx,
    ));

    let metrics = Arc::new(Metrics::default());
    metrics.ledger_ok.store(1, Relaxed);
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (notices, _) = broadcast::channel(256);
    let handle = Handle {
        tx: cmd_tx,
        metrics: metrics.clone(),
        ledger_path: opts.ledger_path(),
        token,
        notices: notices.clone(),
        stopping: shutdown_rx.clone(),
    };
    let state = Loop {
        coord,
        ledger,
        secret: secret.clone(),
        tree,
        devices,
        logins,
        topics: topics.clone(),
        client,
        clock,
        site,
        broker: broker.url(),
        metrics,
        batch: Batch::default(),
        bodies: HashMap::new(),
        arrivals: HashMap::new(),
        ledger_error: None,
        retry_at: None,
        next_timeout: Instant(0),
        notices,
        changes: BTreeSet::new(),
        last_heard: HashMap::new(),
        instructed: HashMap::new(),
        recorded: Vec::new(),
    };
    let slot_ms = state.site.slot_ms;
    let main = tokio::spawn(state.run(ev_rx, cmd_rx, shutdown_rx.clone()));
    let (http, http_task) = match opts.http {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| ServerError::invalid(format!("--http {addr}"), e.to_string()))?;
            let local = listener
                .local_addr()
                .map_err(|e| ServerError::invalid("--http", e.to_string()))?;
            let app = crate::api::router(handle.clone());
            let mut stop = shutdown_rx;
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            });
            (Some(local), Some(task))
        }
        None => (None, None),
    };
    Ok(Running {
        handle,
        broker,
        http,
        secret,
        topics,
        clock,
        slot_ms,
        shutdown: shutdown_tx,
        main,
        http_task,
        _broker: embedded,
    })
}

/// The devices the loop knows: keys, names of circuits, key facts for listings.
#[derive(Default)]
struct Devices {
    keys: HashMap<DeviceId, Key>,
    rows: BTreeMap<DeviceId, DeviceRow>,
}

impl Devices {
    fn add(
        &mut self,
        row: &DeviceRow,
        tree: &CircuitTree,
        secret: &SiteSecret,
        logins: &Logins,
    ) -> Result<DeviceRecord> {
        let circuit = tree.index_of(&row.circuit).ok_or_else(|| {
            ServerError::invalid(
                format!("device '{}'", row.id),
                format!("circuit '{}' is not in the site's tree", row.circuit),
            )
        })?;
        let key = secret.device_key(&row.id, row.key_generation);
        self.keys.insert(row.id.clone(), key);
        self.rows.insert(row.id.clone(), row.clone());
        logins
            .write()
            .expect("not poisoned")
            .insert(row.id.to_string(), keys::mqtt_password(&key));
        Ok(DeviceRecord {
            id: row.id.clone(),
            circuit,
            max_priority: row.max_priority,
            port: row.port,
            // Uncontrolled load is announced by its forecasts, not a standing reservation.
            standing_mw: 0,
        })
    }
}

struct Loop {
    coord: Coordinator,
    ledger: Ledger,
    secret: SiteSecret,
    tree: CircuitTree,
    devices: Devices,
    logins: Logins,
    topics: Topics,
    client: AsyncClient,
    clock: Clock,
    site: SiteRow,
    broker: String,
    metrics: Arc<Metrics>,
    /// What this turn (and any failed turn before it) has to make durable.
    batch: Batch,
    /// Bodies of requests fed this turn, until the machine accepts them.
    bodies: HashMap<(DeviceId, RequestId), TimeslotRequest>,
    /// When each request arrived (wall clock), for the latency histogram.
    arrivals: HashMap<(DeviceId, RequestId), std::time::Instant>,
    ledger_error: Option<String>,
    /// When to try the ledger again after a failed commit.
    retry_at: Option<std::time::Instant>,
    next_timeout: Instant,
    /// Tells subscribers what each turn changed.
    notices: broadcast::Sender<Notice>,
    /// What the turn committed so far (names for the next [`Notice`]).
    changes: BTreeSet<String>,
    /// When each device was last heard (an accepted message), protocol time.
    last_heard: HashMap<DeviceId, Instant>,
    /// The last instruction of each grant that was scaled or shed (until it resumes or ends).
    instructed: HashMap<(DeviceId, RequestId), InstructionKind>,
    /// Per circuit, the (slot, capacity, committed) last written to the ledger.
    recorded: Vec<(Slot, i64, i64)>,
}

/// Telemetry and log lines kept for the ledger while it fails (older ones are dropped).
const MAX_HELD_OBSERVATIONS: usize = 100_000;

/// Longest wait between turns (also how often a failed ledger write is retried).
const MAX_IDLE: Duration = Duration::from_secs(1);
/// How often the loop looks for devices added to the ledger by `powerslot devices add`.
const DEVICE_POLL: Duration = Duration::from_secs(2);

impl Loop {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<ClientEvent>,
        mut cmds: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        let mut device_poll = tokio::time::interval(DEVICE_POLL);
        device_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sends = Vec::new();
        self.turn(&mut sends);
        loop {
            let wait = self.clock.until(self.next_timeout).min(MAX_IDLE);
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => break,
                Some(ev) = events.recv() => {
                    self.on_client_event(ev);
                    // Take whatever else is already queued into the same turn (one commit).
                    for _ in 0..512 {
                        match events.try_recv() {
                            Ok(ev) => self.on_client_event(ev),
                            Err(_) => break,
                        }
                    }
                }
                Some(cmd) = cmds.recv() => self.on_command(cmd),
                _ = device_poll.tick() => self.poll_devices(),
                _ = tokio::time::sleep(wait) => {
                    let now = self.clock.now();
                    self.coord.handle_timeout(now);
                }
            }
            self.turn(&mut sends);
        }
        // Shutting down: commit what is held, publish what that releases.
        self.turn(&mut sends);
        let _ = self.client.try_disconnect();
        match &self.ledger_error {
            Some(e) => Err(ServerError::invalid(
                "ledger",
                format!("stopped with writes not committed: {e}"),
            )),
            None => Ok(()),
        }
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Drains the machine, commits, acknowledges, publishes.
    fn turn(&mut self, sends: &mut Vec<(DeviceId, powerslot_protocol::Envelope)>) {
        self.drain(sends);
        self.record_circuits();
        // While the ledger fails, retry once a second rather than every turn.
        let may_commit = self.retry_at.is_none_or(|t| std::time::Instant::now() >= t);
        // A commit can release held sends; their drain adds no stores, but loop to be sure.
        for _ in 0..4 {
            if self.batch.is_empty() || !may_commit {
                break;
            }
            if !self.commit() {
                break;
            }
            self.drain(sends);
        }
        if self.ledger_error.is_some() {
            // What waits for the ledger is bounded: observations go first, never stores.
            self.batch.shed_observations(MAX_HELD_OBSERVATIONS);
        }
        for (to, env) in sends.drain(..) {
            self.publish(&to, &env);
        }
        self.update_gauges();
        if !self.changes.is_empty() {
            let changes = std::mem::take(&mut self.changes).into_iter().collect();
            // Nobody listening is fine: the notice is only a hint to re-read.
            let _ = self.notices.send(Notice {
                now_ms: self.now().0,
                slot: self.coord.slot(),
                changes,
            });
        }
    }

    /// Keeps what every circuit has in the current slot (the book forgets passed slots):
    /// one row per circuit when a slot begins, again whenever it changes within the slot.
    fn record_circuits(&mut self) {
        let slot = self.coord.slot();
        let book = self.coord.book();
        let n = self.tree.len();
        if self.recorded.len() != n {
            self.recorded = vec![(Slot::MAX, 0, 0); n];
        }
        for c in 0..n {
            let ix = c as u32;
            let now = (slot, book.capacity(ix, slot), book.committed(ix, slot));
            if self.recorded[c] != now {
                if self.recorded[c].0 != slot {
                    self.changes.insert("slot".into());
                }
                self.recorded[c] = now;
                self.batch.circuit_slots.push((
                    self.tree.name(ix).to_string(),
                    now.0,
                    now.1,
                    now.2,
                ));
            }
        }
    }

    fn drain(&mut self, sends: &mut Vec<(DeviceId, powerslot_protocol::Envelope)>) {
        let now = self.now();
        loop {
            match self.coord.poll_output() {
                Output::Send { to, msg } => {
                    if let Body::Award(a) = &msg.body
                        && let Some(t) = self.arrivals.remove(&(to.clone(), a.request))
                    {
                        self.metrics.observe_latency(t.elapsed().as_secs_f64());
                    }
                    if let Body::Offer(o) = &msg.body {
                        // Offers are messages, not machine events: logged here, so that a
                        // negotiation's rounds can be followed in the log.
                        let options: Vec<serde_json::Value> = o
                            .options
                            .iter()
                            .map(|g| {
                                serde_json::json!({
                                    "start": g.start,
                                    "end": g.end(),
                                    "peak_mw": g.power_mw.iter().copied().max().unwrap_or(0),
                                })
                            })
                            .collect();
                        self.log_line(
                            now,
                            &to,
                            o.request,
                            "offer",
                            serde_json::json!({ "round": o.round, "options": options }),
                        );
                    }
                    sends.push((to, msg));
                }
                Output::Store { seq, record } => self.batch.stores.push((seq, record)),
                Output::Event(e) => self.on_event(now, e),
                Output::Actuate { .. } => {}
                Output::Timeout(at) => {
                    self.next_timeout = at;
                    break;
                }
            }
        }
        for (device, request, _, _) in self.coord.take_finished() {
            self.arrivals.remove(&(device.clone(), request));
            self.instructed.remove(&(device.clone(), request));
            self.batch
                .request_states
                .push((device, request, RequestState::Ended));
        }
        self.bodies.clear();
        self.batch.now_ms = now.0;
    }

    /// Commits the batch; on success tells the machine, on failure keeps it for a retry.
    fn commit(&mut self) -> bool {
        let started = std::time::Instant::now();
        let batch = std::mem::take(&mut self.batch);
        let r = tokio::task::block_in_place(|| self.ledger.write(&batch));
        self.metrics
            .ledger_write_us
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        match r {
            Ok(()) => {
                self.metrics.ledger_writes.fetch_add(1, Relaxed);
                self.changes
                    .extend(batch.log.iter().map(|l| l.event.clone()));
                if !batch.telemetry.is_empty() {
                    self.changes.insert("telemetry".into());
                }
                if !batch.budget.is_empty() {
                    self.changes.insert("budget".into());
                }
                self.metrics.ledger_ok.store(1, Relaxed);
                self.retry_at = None;
                if self.ledger_error.take().is_some() {
                    tracing::warn!("ledger writes succeed again; held awards are announced now");
                }
                if let Some(seq) = batch.last_store() {
                    let now = self.now();
                    // StoreDone never fails.
                    let _ = self.coord.handle(now, CoordInput::StoreDone(seq));
                }
                true
            }
            Err(e) => {
                self.metrics.ledger_write_errors.fetch_add(1, Relaxed);
                self.metrics.ledger_ok.store(0, Relaxed);
                let text = e.to_string();
                if self.ledger_error.as_deref() != Some(text.as_str()) {
                    tracing::error!(
                        "{text}; awards are held, not announced, until a write succeeds"
                    );
                }
                self.ledger_error = Some(text);
                self.retry_at = Some(std::time::Instant::now() + MAX_IDLE);
                let mut kept = batch;
                kept.append(std::mem::take(&mut self.batch));
                self.batch = kept;
                false
            }
        }
    }

    fn publish(&mut self, to: &DeviceId, env: &powerslot_protocol::Envelope) {
        let Some(key) = self.devices.keys.get(to) else {
            return;
        };
        let frame = match codec::seal(env, Encoding::Json, key) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("could not encode a message for {to}: {e}");
                return;
            }
        };
        match self.client.try_publish(
            self.topics.down(to.as_str()),
            QoS::AtLeastOnce,
            false,
            frame,
        ) {
            Ok(()) => {
                self.metrics.frames_out.fetch_add(1, Relaxed);
            }
            Err(_) => {
                self.metrics.publish_dropped.fetch_add(1, Relaxed);
            }
        }
    }

    fn on_client_event(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Connected => {
                self.metrics.mqtt_connected.store(1, Relaxed);
                tracing::info!("connected to the MQTT broker {}", self.broker);
            }
            ClientEvent::Disconnected(why) => {
                if self.metrics.mqtt_connected.swap(0, Relaxed) == 1 {
                    tracing::warn!("lost the MQTT broker {}: {why}", self.broker);
                }
            }
            ClientEvent::Message { topic, payload } => self.on_frame(&topic, &payload),
        }
    }

    fn refuse(&mut self, why: Refusal, device: Option<&str>, detail: String) {
        self.metrics.refuse(why);
        tracing::warn!(
            "refused a frame ({}) claiming to be from {}: {detail}",
            why.name(),
            device.unwrap_or("?")
        );
        let now = self.now();
        self.batch.log.push(LogEntry {
            id: 0,
            at_ms: now.0,
            slot: self.coord.slot(),
            device: device.map(str::to_owned),
            request: None,
            event: "security".into(),
            detail: serde_json::json!({ "security": { "problem": why.name(), "detail": detail } }),
        });
    }

    fn on_frame(&mut self, topic: &str, payload: &[u8]) {
        self.metrics.frames_in.fetch_add(1, Relaxed);
        let Some(topic_device) = self.topics.device_of_up(topic).map(str::to_owned) else {
            return;
        };
        if payload.len() > mqtt::MAX_FRAME_BYTES {
            let n = payload.len();
            return self.refuse(
                Refusal::TooLarge,
                Some(&topic_device),
                format!("{n} bytes, the maximum is {}", mqtt::MAX_FRAME_BYTES),
            );
        }
        let Ok(link) = DeviceId::new(&topic_device) else {
            return self.refuse(
                Refusal::UnknownDevice,
                Some(&topic_device),
                "not a valid device id".into(),
            );
        };
        // The frame is authenticated with the key of the device whose topic it came on before
        // any of it is decoded; the sender learns nothing either way (no answer), the
        // operator's metrics tell an unknown device from a bad signature.
        let key = self.devices.keys.get(&link);
        let env = match codec::open(payload, &link, key) {
            Ok(env) => env,
            Err(e) => {
                let why = match &e {
                    ProtocolError::TooLarge { .. } => Refusal::TooLarge,
                    ProtocolError::BadSignature(_) if key.is_none() => Refusal::UnknownDevice,
                    ProtocolError::BadSignature(_) => Refusal::BadSignature,
                    ProtocolError::WrongLink { .. } => Refusal::TopicMismatch,
                    ProtocolError::Version { .. } => Refusal::Version,
                    ProtocolError::Value { .. } => Refusal::Invalid,
                    _ => Refusal::Malformed,
                };
                return self.refuse(why, Some(&topic_device), e.to_string());
            }
        };
        let counter_bid = match &env.body {
            Body::CounterBid(cb) => Some(cb.clone()),
            _ => None,
        };
        if let Body::TimeslotRequest(r) = &env.body {
            let k = (env.device.clone(), r.request);
            self.bodies.insert(k.clone(), r.clone());
            self.arrivals
                .entry(k)
                .or_insert_with(std::time::Instant::now);
        }
        let (device, seq) = (env.device.clone(), env.seq);
        let telemetry = match &env.body {
            Body::Telemetry(t) => Some(t.clone()),
            _ => None,
        };
        let now = self.now();
        // Refusals by the machine come out as `Event::Security` and are counted there.
        if self.coord.handle(now, CoordInput::Message(env)).is_ok() {
            self.last_heard.insert(device.clone(), now);
            if let Some(cb) = counter_bid {
                let detail = serde_json::json!({ "round": cb.round, "choice": cb.choice });
                self.log_line(now, &device, cb.request, "counter_bid", detail);
            }
            if let Some(t) = telemetry {
                self.batch.telemetry.push((device.clone(), t));
            }
            let e = self.batch.last_seq.entry(device).or_insert(0);
            *e = (*e).max(seq);
        }
    }

    /// A log line about one request that is not a machine event (offers, counter-bids).
    fn log_line(
        &mut self,
        now: Instant,
        device: &DeviceId,
        request: RequestId,
        event: &str,
        detail: serde_json::Value,
    ) {
        // Shaped as the machine's events are: `{"<event>": {...}}`.
        let mut tagged = serde_json::Map::new();
        tagged.insert(event.into(), detail);
        self.batch.log.push(LogEntry {
            id: 0,
            at_ms: now.0,
            slot: self.coord.slot(),
            device: Some(device.to_string()),
            request: Some(request),
            event: event.into(),
            detail: serde_json::Value::Object(tagged),
        });
    }

    fn on_event(&mut self, now: Instant, e: Event) {
        match &e {
            Event::Request {
                device,
                request,
                priority,
                ..
            } => {
                if let Some(mut body) = self.bodies.remove(&(device.clone(), *request)) {
                    body.priority = *priority;
                    self.batch.new_requests.push((device.clone(), body));
                }
            }
            Event::Awarded {
                device, request, ..
            } => {
                self.instructed.remove(&(device.clone(), *request));
                self.batch
                    .request_states
                    .push((device.clone(), *request, RequestState::Awarded));
            }
            Event::Instructed {
                device,
                request,
                kind,
                ..
            } => {
                let k = (device.clone(), *request);
                match kind {
                    InstructionKind::Shed | InstructionKind::Scale => {
                        self.instructed.insert(k, *kind);
                    }
                    InstructionKind::Resume | InstructionKind::Revoke => {
                        self.instructed.remove(&k);
                    }
                }
            }
            Event::Ended {
                device, request, ..
            } => {
                self.instructed.remove(&(device.clone(), *request));
            }
            Event::Rejected {
                device,
                request,
                waiting: false,
                ..
            } => self
                .batch
                .request_states
                .push((device.clone(), *request, RequestState::Ended)),
            Event::Security { device, problem } => {
                let why = match problem {
                    SecurityProblem::Replay => Refusal::Replay,
                    SecurityProblem::UnknownDevice => Refusal::UnknownDevice,
                    SecurityProblem::WrongDirection => Refusal::WrongDirection,
                    SecurityProblem::RateLimited => Refusal::RateLimited,
                    SecurityProblem::PriorityNotAllowed => Refusal::PriorityNotAllowed,
                    SecurityProblem::Invalid => Refusal::Invalid,
                };
                self.metrics.refuse(why);
                // Replays are mostly MQTT redeliveries: counted, not shouted about.
                if why != Refusal::Replay {
                    tracing::warn!(
                        "refused a message ({}) from {}",
                        why.name(),
                        device.as_ref().map_or("?", |d| d.as_str())
                    );
                }
            }
            _ => {}
        }
        let (device, request) = match &e {
            Event::Request {
                device, request, ..
            }
            | Event::Awarded {
                device, request, ..
            }
            | Event::Rejected {
                device, request, ..
            }
            | Event::Instructed {
                device, request, ..
            }
            | Event::Ended {
                device, request, ..
            } => (Some(device.to_string()), Some(*request)),
            Event::Security { device, .. } => (device.as_ref().map(|d| d.to_string()), None),
            Event::Fallback { device, .. } => (Some(device.to_string()), None),
            _ => (None, None),
        };
        let detail = serde_json::to_value(&e).unwrap_or(serde_json::Value::Null);
        let event = detail
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_else(|| "event".into());
        self.batch.log.push(LogEntry {
            id: 0,
            at_ms: now.0,
            slot: self.coord.slot(),
            device,
            request,
            event,
            detail,
        });
    }

    fn poll_devices(&mut self) {
        let rows = match tokio::task::block_in_place(|| self.ledger.devices()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("could not read the devices: {e}");
                return;
            }
        };
        for row in rows {
            if !self.devices.rows.contains_key(&row.id) {
                self.install_device(&row);
            }
        }
    }

    fn install_device(&mut self, row: &DeviceRow) {
        match self
            .devices
            .add(row, &self.tree, &self.secret, &self.logins)
        {
            Ok(rec) => {
                let now = self.now();
                if let Err(e) = self.coord.handle(now, CoordInput::AddDevice(rec)) {
                    tracing::error!("device '{}': {e}", row.id);
                } else {
                    tracing::info!("device '{}' registered", row.id);
                }
            }
            Err(e) => tracing::error!("{e}"),
        }
    }

    fn circuit(&self, name: Option<&str>) -> Result<u32, String> {
        match name {
            None => Ok(0),
            Some(n) => self
                .tree
                .index_of(n)
                .ok_or_else(|| format!("circuit '{n}' does not exist at this site")),
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Devices(reply) => {
                let slot = self.coord.slot();
                let awards = self.coord.awards();
                let waiting: HashSet<DeviceId> =
                    self.coord.waiting().into_iter().map(|w| w.0).collect();
                let views = self
                    .devices
                    .rows
                    .values()
                    .map(|r| {
                        let measured = self.coord.measured(&r.id);
                        let mine: Vec<&AwardRecord> =
                            awards.iter().filter(|a| a.device == r.id).collect();
                        let heard = self.last_heard.get(&r.id).copied();
                        let activity = Activity {
                            heard,
                            paused: self.coord.is_paused(&r.id),
                            instructed: mine
                                .iter()
                                .filter_map(|a| {
                                    self.instructed.get(&(r.id.clone(), a.request)).copied()
                                })
                                .collect(),
                            draws_now: mine.iter().any(|a| a.grant.at(slot) > 0),
                            holds_grant: !mine.is_empty(),
                            waiting: waiting.contains(&r.id),
                        };
                        let state = activity.state(now, self.site.slot_ms);
                        DeviceView {
                            id: r.id.to_string(),
                            circuit: r.circuit.clone(),
                            max_priority: r.max_priority,
                            priority: self.coord.priority_of(&r.id).unwrap_or(r.max_priority),
                            paused: self.coord.is_paused(&r.id),
                            measured_mw: measured.map(|m| m.1),
                            measured_slot: measured.map(|m| m.0),
                            key_generation: r.key_generation,
                            key_fingerprint: r.key_fingerprint.clone(),
                            state,
                            last_heard_ms: heard.map(|t| t.0),
                        }
                    })
                    .collect();
                let _ = reply.send(views);
            }
            Command::Allocations { from, to, reply } => {
                let _ = reply.send(allocations(&self.coord.awards(), from, to));
            }
            Command::Budget {
                circuit,
                from,
                to,
                reply,
            } => {
                let r = self.circuit(circuit.as_deref()).map(|c| {
                    let book = self.coord.book();
                    let from = from.unwrap_or(book.origin()).max(book.origin());
                    let to = to.unwrap_or(book.end()).min(book.end()).max(from);
                    let load = self.coord.uncontrollable_load(c, from, to - from);
                    BudgetCurve {
                        circuit: self.tree.name(c).to_string(),
                        rating_mw: self.tree.rating(c),
                        from_slot: from,
                        capacity_mw: (from..to).map(|s| book.capacity(c, s)).collect(),
                        committed_mw: (from..to).map(|s| book.committed(c, s)).collect(),
                        reserved_mw: load.reserved,
                        expected_mw: load.expected,
                        critical_mw: load.critical,
                    }
                });
                let _ = reply.send(r);
            }
            Command::Circuits(reply) => {
                let views = (0..self.tree.len() as u32)
                    .map(|c| CircuitView {
                        name: self.tree.name(c).to_string(),
                        parent: self.tree.parent(c).map(|p| self.tree.name(p).to_string()),
                        rating_mw: self.tree.rating(c),
                        devices: self
                            .devices
                            .rows
                            .values()
                            .filter(|r| {
                                self.tree
                                    .index_of(&r.circuit)
                                    .is_some_and(|rc| self.tree.covers(c, rc))
                            })
                            .map(|r| r.id.to_string())
                            .collect(),
                    })
                    .collect();
                let _ = reply.send(views);
            }
            Command::Waiting(reply) => {
                let w = self
                    .coord
                    .waiting()
                    .into_iter()
                    .map(|(d, r, p, s)| WaitingView {
                        device: d.to_string(),
                        request: r,
                        priority: p,
                        since_slot: s,
                    })
                    .collect();
                let _ = reply.send(w);
            }
            Command::SetBudget {
                circuit,
                from_slot,
                values_mw,
                class_budgets,
                reply,
            } => {
                // Every class budget is checked before anything is applied, so a refused
                // one leaves the budget and its class budgets as they were. The curve goes
                // first: it drops the class budgets it replaces.
                let r = self.circuit(circuit.as_deref()).and_then(|c| {
                    for (class, values) in &class_budgets {
                        self.coord
                            .check_class_budget(c, *class, values)
                            .map_err(|e| e.to_string())?;
                    }
                    let budget = CoordInput::Budget {
                        circuit: c,
                        from_slot,
                        values_mw: values_mw.clone(),
                    };
                    let classes =
                        class_budgets
                            .into_iter()
                            .map(|(class, values)| CoordInput::ClassBudget {
                                circuit: c,
                                class,
                                from_slot,
                                values_mw: values,
                            });
                    for input in std::iter::once(budget).chain(classes) {
                        self.coord.handle(now, input).map_err(|e| e.to_string())?;
                    }
                    let name = self.tree.name(c).to_string();
                    self.batch.budget.push((name, from_slot, values_mw));
                    Ok(())
                });
                let _ = reply.send(r);
            }
            Command::Operator { cmd, reply } => {
                let r = self
                    .coord
                    .handle(now, CoordInput::Operator(cmd))
                    .map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Command::AddDevice {
                id,
                circuit,
                max_priority,
                port,
                reply,
            } => {
                let r = tokio::task::block_in_place(|| {
                    register_device(
                        &mut self.ledger,
                        &self.secret,
                        &id,
                        circuit.as_deref(),
                        max_priority,
                        port,
                    )
                });
                let r = match r {
                    Ok(nd) => {
                        if let Ok(rows) = self.ledger.devices()
                            && let Some(row) = rows.into_iter().find(|r| r.id == id)
                        {
                            self.install_device(&row);
                        }
                        Ok(nd)
                    }
                    Err(e) => Err(e.to_string()),
                };
                let _ = reply.send(r);
            }
        }
    }

    fn status(&self) -> Status {
        let ok = self.ledger_error.is_none();
        let connected = self.metrics.mqtt_connected.load(Relaxed) == 1;
        Status {
            site: self.site.name.clone(),
            status: if ok && connected { "ok" } else { "degraded" },
            ledger_ok: ok,
            ledger_error: self.ledger_error.clone(),
            mqtt_connected: connected,
            broker: self.broker.clone(),
            now_ms: self.now().0,
            slot: self.coord.slot(),
            slot_ms: self.site.slot_ms,
            speed: self.site.speed,
            devices: self.devices.rows.len(),
            live_awards: self.coord.awards().len(),
            waiting: self.coord.waiting().len(),
            stats: StatsView::from(self.coord.stats()),
        }
    }

    fn update_gauges(&self) {
        let s = self.coord.stats();
        let m = &self.metrics;
        m.requests.store(s.requests, Relaxed);
        m.awards.store(s.awards, Relaxed);
        m.rejects.store(s.rejects, Relaxed);
        m.devices.store(self.devices.rows.len() as u64, Relaxed);
        m.slot.store(u64::from(self.coord.slot()), Relaxed);
    }
}

/// Grants per slot in `[from, to)` (at most 10,080 slots).
pub fn allocations(awards: &[AwardRecord], from: Slot, to: Slot) -> Vec<SlotAllocation> {
    let to = to.min(from.saturating_add(powerslot_protocol::limits::MAX_HORIZON_SLOTS));
    (from..to)
        .map(|slot| {
            let grants: Vec<GrantShare> = awards
                .iter()
                .filter_map(|a| {
                    let p = a.grant.at(slot);
                    (p > 0).then(|| GrantShare {
                        device: a.device.to_string(),
                        request: a.request,
                        priority: a.priority,
                        power_mw: p,
                    })
                })
                .collect();
            SlotAllocation {
                slot,
                total_mw: grants.iter().map(|g| g.power_mw).sum(),
                grants,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> Activity {
        Activity {
            heard: Some(Instant(1_000)),
            paused: false,
            instructed: Vec::new(),
            draws_now: false,
            holds_grant: false,
            waiting: false,
        }
    }

    #[test]
    fn device_states_win_in_order() {
        let now = Instant(2_000);
        let mut a = quiet();
        assert_eq!(a.state(now, 60_000), "idle");
        a.waiting = true;
        assert_eq!(a.state(now, 60_000), "waiting");
        a.holds_grant = true;
        assert_eq!(a.state(now, 60_000), "awarded");
        a.draws_now = true;
        assert_eq!(a.state(now, 60_000), "running");
        a.instructed = vec![InstructionKind::Scale];
        assert_eq!(a.state(now, 60_000), "scaled");
        a.instructed.push(InstructionKind::Shed);
        assert_eq!(a.state(now, 60_000), "shed");
        a.paused = true;
        assert_eq!(a.state(now, 60_000), "paused");
        // Not heard for more than two slots: offline, whatever else holds.
        assert_eq!(a.state(Instant(1_000 + 120_001), 60_000), "offline");
        assert_eq!(a.state(Instant(1_000 + 120_000), 60_000), "paused");
        a.heard = None;
        assert_eq!(a.state(now, 60_000), "offline");
    }
}
