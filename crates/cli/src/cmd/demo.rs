//! `powerslot demo`: the whole running system on embedded defaults, in compressed time.
//!
//! One process holds everything `serve` and `agent` would run apart: the coordinator with
//! its embedded MQTT broker, its SQLite ledger (in a temporary folder, or `--data`) and its
//! HTTP API, and one agent per device of a small neighbourhood, each with its own MQTT
//! login, speaking signed frames over loopback. The neighbourhood is the fleet simulator's
//! own ([`population::neighbourhood`]) built from the real traces shipped in the binary
//! (household load from smart meters, washer and dishwasher cycles from the UK homes, EV
//! sessions, water heaters, irradiance; see `crates/sim/data/SOURCE.md`): household load
//! (uncontrollable, forecast by its own agent), deferrable cycles, cars with an energy target
//! by plug-out and elastic loads, under an off-grid solar-and-battery budget that the
//! simulator's [`Publisher`] turns into capacity curves, slot by slot, from the production
//! seen so far.
//!
//! The demo plays the roles nobody else does in a real site: it publishes the budget through
//! the coordinator's own command channel, runs the battery under the load the agents report,
//! and measures. It prints a line per hour of protocol time and, at the end, the result —
//! peak against the uncoordinated peak (every device as if nobody coordinated it), budget
//! violations (circuit-slots where what the coordinator granted, beside what it holds for
//! load nobody controls, exceeded the capacity published), deadlines met, energy served, awards and messages; `--json` prints it as one
//! object. The report (`report.json`) and a figure of the site's day (`site.svg`, `site.png`:
//! budget, granted, held for load nobody controls, measured and uncoordinated load) go to
//! `--out`. It stops after `--duration` wall-clock seconds, at the end of the scenario's day,
//! or on Ctrl-C / SIGTERM, and shuts the coordinator down cleanly (ledger flushed).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use powerslot_core::Slot;
use powerslot_protocol::agent::{Need, NeedEnd};
use powerslot_protocol::coordinator::UncontrolledLoad;
use powerslot_protocol::msg::RejectReason;
use powerslot_protocol::{Demand, DeviceId, Instant, Priority, SlotClock};
use powerslot_server::agent::{self, AgentEvent, AgentOptions, Job, Source};
use powerslot_server::clock::{Clock, unix_ms};
use powerslot_server::keys::parse_key;
use powerslot_server::service::{self, BrokerChoice, Command, ServeOptions, SiteSetup};
use powerslot_sim::fleet::budget::{BatteryPhysics, Publisher};
use powerslot_sim::fleet::engine::profile_forecast;
use powerslot_sim::fleet::model::{BudgetSource, Fleet, SimJob, SimKind, Work};
use powerslot_sim::fleet::population::{self, BuildOptions, ScenarioKind, uncoordinated_mw};
use powerslot_sim::fleet::traces::DataSource;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::plot::{Axis, Chart, Series, Style};

/// Most devices the demo runs (each is an agent with its own MQTT connection).
const MAX_DEVICES: usize = 500;

/// `powerslot demo`.
#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Devices in the neighbourhood (house by house: its household load, then its
    /// appliances, car and heaters; the last house may be part full).
    #[arg(long, default_value_t = 24)]
    devices: usize,
    /// Protocol time runs this many times faster than the wall clock (1440: a day a minute;
    /// at least 2).
    #[arg(long, default_value_t = 1440.0)]
    speed: f64,
    /// Stop after this many wall-clock seconds (the scenario's day ends first at the default
    /// speed).
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seed of the neighbourhood.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder for the ledger, site key and API token (must not hold a site yet; default: a
    /// temporary folder removed at the end).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address of the HTTP API (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Address of the embedded MQTT broker (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:1883")]
    mqtt: SocketAddr,
    /// Print the result as one JSON object (and the progress on stderr).
    #[arg(long)]
    json: bool,
    /// Folder for the report (`report.json`) and the figure of the day (`site.svg`, `site.png`).
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
}

/// The result of a run.
#[derive(Clone, Debug, Default, Serialize)]
struct DemoReport {
    devices: usize,
    slots: u32,
    budget_violations: u64,
    peak_w: f64,
    uncoordinated_peak_w: f64,
    deadline_misses: u64,
    /// The deadline misses by why the coordinator last refused them.
    misses_by_reason: BTreeMap<String, u64>,
    jobs: u64,
    jobs_done: u64,
    energy_served_kwh: f64,
    awards: u64,
    requests: u64,
    preemptions: u64,
    messages: u64,
    security_rejects: u64,
    battery_min_kwh: f64,
    unserved_kwh: f64,
    http: String,
    broker: String,
    /// The figure and the report, written to `--out`.
    files: Vec<String>,
}

/// What one device is, for the measurements.
enum Role {
    Base,
    Jobs(Vec<SimJob>),
    Elastic(Vec<i64>),
}

pub(crate) fn run(a: DemoArgs) -> Result<()> {
    if a.devices == 0 || a.devices > MAX_DEVICES {
        bail!(
            "--devices must be between 1 and {MAX_DEVICES}, not {}",
            a.devices
        );
    }
    if !(a.speed.is_finite() && a.speed >= 2.0) {
        bail!("--speed must be a number of at least 2, not {}", a.speed);
    }
    if !(a.duration.is_finite() && a.duration > 0.0) {
        bail!("--duration must be a positive number of seconds");
    }
    let (dir, temporary) = match &a.data {
        Some(d) => {
            if d.join("ledger.db").exists() {
                bail!(
                    "--data {}: this folder holds a site already; the demo needs a new one",
                    d.display()
                );
            }
            (d.clone(), false)
        }
        None => {
            let d = std::env::temp_dir().join(format!("powerslot-demo-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            (d, true)
        }
    };
    // The coordinator's and agents' logs would drown the progress lines: warnings only,
    // unless RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rumqttd=off,rumqttc=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = super::serve::runtime()?;
    let report = rt.block_on(run_demo(&a, dir.clone()));
    drop(rt);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = report?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(r: &DemoReport) {
    println!();
    println!(
        "{} devices, {} slots: {} awards for {} requests, {} preemptions",
        r.devices, r.slots, r.awards, r.requests, r.preemptions
    );
    println!(
        "peak {:.2} kW against {:.2} kW uncoordinated; {} budget violations",
        r.peak_w / 1000.0,
        r.uncoordinated_peak_w / 1000.0,
        r.budget_violations
    );
    println!(
        "jobs: {} done of {} due in the run, {} deadline misses; {:.2} kWh served to controllable devices",
        r.jobs_done, r.jobs, r.deadline_misses, r.energy_served_kwh
    );
    for (why, n) in &r.misses_by_reason {
        println!("  missed: {n} {why}");
    }
    println!(
        "battery: lowest {:.2} kWh, {:.3} kWh unserved; {} messages, {} security rejects",
        r.battery_min_kwh, r.unserved_kwh, r.messages, r.security_rejects
    );
    for f in &r.files {
        println!("wrote {f}");
    }
}

/// The compressed clock on which protocol time reads `target_ms` `lead_ms` after now: the
/// demo starts a little before the scenario's first slot, at the scenario's time of day.
fn demo_clock(speed: f64, target_ms: u64, lead_ms: u64) -> Clock {
    let now = unix_ms();
    // Protocol time at wall time w is start + (w - start) * speed; solve for the start that
    // puts `target_ms - lead_ms * speed` at `now`.
    let at_now = target_ms as f64 - lead_ms as f64 * speed;
    let start = (now as f64 * speed - at_now) / (speed - 1.0).max(1e-9);
    Clock::compressed(start.max(0.0) as u64, speed)
}

/// The next Unix instant after `after_ms` (plus a day of margin) that is `start_of_day_s`
/// after a UTC midnight: the scenario's first slot.
fn scenario_start(after_ms: u64, start_of_day_s: u32) -> u64 {
    let day = 86_400_000u64;
    let midnight = (after_ms / day + 1) * day;
    midnight + u64::from(start_of_day_s) * 1000
}

async fn run_demo(a: &DemoArgs, dir: PathBuf) -> Result<DemoReport> {
    let fleet = population::build(
        ScenarioKind::Neighbourhood,
        &DataSource::Samples,
        &BuildOptions {
            devices: a.devices,
            days: 1,
            seed: a.seed,
            slot_minutes: None,
            history_days: 3,
        },
    )
    .context("building the demo's neighbourhood from the shipped samples")?;
    let slot_ms = fleet.slot_ms;
    let per_day = (86_400_000 / slot_ms) as u32;
    let grid = SlotClock::new(Instant(0), slot_ms);
    let t0 = scenario_start(unix_ms(), fleet.start_of_day_s);
    // Two wall-clock seconds before the first slot: the agents connect, the budget is set.
    let clock = demo_clock(a.speed, t0, 2_000);
    let s0 = grid.slot_at(Instant(t0));

    let mut opts = ServeOptions::new(&dir, "demo");
    opts.setup = SiteSetup {
        slot_ms: Some(slot_ms),
        clock: Some(clock),
        circuits: Some(fleet.circuits.clone()),
    };
    opts.broker = BrokerChoice::Embedded(a.mqtt);
    opts.http = Some(a.http);
    let (secret, mut ledger) = service::prepare(&opts)?;
    let specs: Vec<service::DeviceSpec> = fleet
        .devices
        .iter()
        .map(|d| {
            (
                d.id.clone(),
                Some(d.circuit.clone()),
                d.priority,
                Some(d.port),
            )
        })
        .collect();
    let keys = service::register_devices(&mut ledger, &secret, &specs)?;
    drop(ledger);
    let running = service::start(opts).await?;
    let http = running
        .http
        .map(|h| format!("http://{h}"))
        .unwrap_or_default();
    let broker = running.broker.url();
    let say = |line: String| {
        if a.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let houses = fleet
        .circuits
        .iter()
        .filter(|c| c.name.starts_with("house-"))
        .count();
    say(format!(
        "powerslot demo: {} devices in {houses} houses, {}-minute slots at {}x; dashboard {http}/ (token in {}), broker {broker}, ledger {}",
        fleet.devices.len(),
        slot_ms / 60_000,
        a.speed,
        dir.join("api.token").display(),
        dir.join("ledger.db").display()
    ));

    // One agent per device.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    let mut roles: HashMap<DeviceId, Role> = HashMap::new();
    for (d, nd) in fleet.devices.iter().zip(&keys) {
        let key = parse_key(&nd.key).context("a registered key")?;
        let mut o = AgentOptions::new("demo", running.broker.clone(), d.id.clone(), key, slot_ms);
        o.clock = clock;
        o.state_dir = Some(dir.join("agents"));
        o.priority = d.priority;
        match &d.kind {
            SimKind::Base {
                actual_mw,
                history_mw,
            } => {
                let values_w: Vec<f64> = history_mw
                    .iter()
                    .chain(actual_mw)
                    .map(|&mw| mw as f64 / 1000.0)
                    .collect();
                o.source = Source::Trace {
                    values_w,
                    start: history_mw.len(),
                };
                o.trace_anchor = Some(s0);
                roles.insert(d.id.clone(), Role::Base);
            }
            SimKind::Jobs(jobs) => {
                let mut sorted = jobs.clone();
                sorted.sort_by_key(|j| j.arrival);
                o.max_mw = sorted.iter().map(job_peak_mw).max().unwrap_or(0).max(1);
                o.jobs = sorted.iter().map(|j| job_need(j, d.priority, s0)).collect();
                roles.insert(d.id.clone(), Role::Jobs(sorted));
            }
            SimKind::Elastic {
                min_mw,
                max_mw,
                desired_mw,
                ..
            } => {
                o.max_mw = *max_mw;
                o.jobs = vec![Job {
                    at: s0,
                    need: Need {
                        priority: d.priority,
                        earliest_start: s0,
                        deadline: s0 + fleet.slots,
                        demand: Demand::PowerEnvelope {
                            min_mw: *min_mw,
                            max_mw: *max_mw,
                        },
                        bid_per_mille: 1000,
                        accept_until: s0 + fleet.slots,
                    },
                }];
                // The heater says what its thermostat calls for at each slot's start.
                o.load_calls_mw = Some((s0, desired_mw.clone()));
                roles.insert(d.id.clone(), Role::Elastic(desired_mw.clone()));
            }
        }
        tasks.push(tokio::spawn(agent::run(
            o,
            stop_rx.clone(),
            Some(ev_tx.clone()),
        )));
    }
    drop(ev_tx);

    // The budget: the simulator's publisher over the real battery.
    let tree = powerslot_protocol::CircuitTree::new(fleet.circuits.clone())
        .map_err(|e| anyhow::anyhow!("circuits: {e}"))?;
    let circuit_of = |name: &str| tree.index_of(name).unwrap_or(0);
    let mut publishers: Vec<(String, Publisher)> = fleet
        .budgets
        .iter()
        .map(|(name, src)| {
            let rating = fleet
                .circuits
                .iter()
                .find(|c| &c.name == name)
                .map_or(0, |c| c.rating_mw);
            (
                name.clone(),
                Publisher::new(src.clone(), rating, slot_ms, per_day, 2, fleet.slots)
                    .with_high_history(&fleet.high_history_under(&tree, circuit_of(name))),
            )
        })
        .collect();
    let mut batteries: Vec<(String, BatteryPhysics)> = fleet
        .budgets
        .iter()
        .filter_map(|(name, src)| match src {
            BudgetSource::SolarBattery(sb) => {
                Some((name.clone(), BatteryPhysics::new(sb, slot_ms)))
            }
            _ => None,
        })
        .collect();
    let h = running.handle.clone();
    for (name, p) in publishers.iter_mut() {
        let values = p.publish(0, &expected_uncontrollable(&h, name, s0, per_day).await?);
        set_budget(&h, name, s0, values, p.class_budgets()).await?;
    }

    // The run.
    let mut m = Measure::new(&fleet, s0);
    let wall_end = tokio::time::Instant::now() + Duration::from_secs_f64(a.duration);
    let last = s0 + fleet.slots;
    let mut next_check = s0;
    let mut interrupted = false;
    let mut stored_mwh = 0;
    let signal = super::serve::stop_signal();
    tokio::pin!(signal);
    loop {
        let now = clock.now();
        let slot = grid.slot_at(now);
        if slot >= last {
            break;
        }
        // In the middle of every slot: check the slot, close the one before, publish ahead.
        let mid = Instant(grid.start_of(next_check).0 + slot_ms / 2);
        if now >= mid {
            let s = next_check;
            m.check_slot(&h, s).await?;
            if s > s0 {
                let r = s - 1 - s0;
                let load = m.site_load(s - 1, &roles);
                let uncontrolled = m.uncontrolled_load(s - 1, &roles);
                let mut solar_mw = 0;
                for (name, b) in batteries.iter_mut() {
                    let stored = b.step(r, load);
                    solar_mw += b.production(r);
                    stored_mwh = stored;
                    if let Some((_, p)) = publishers.iter_mut().find(|(n, _)| n == name) {
                        let high = fleet.high_wanted_under(&tree, circuit_of(name), r);
                        p.observe(r, b.production(r), stored, uncontrolled, high);
                    }
                }
                if (s - s0).is_multiple_of((3_600_000 / slot_ms).max(1) as u32) {
                    let st = h.ask(Command::Status).await;
                    say(m.progress_line(s - 1, &fleet, load, solar_mw, stored_mwh, st.as_ref()));
                }
            }
            if s + 1 < last {
                for (name, p) in publishers.iter_mut() {
                    let expected = expected_uncontrollable(&h, name, s + 1, per_day).await?;
                    let values = p.publish(s + 1 - s0, &expected);
                    set_budget(&h, name, s + 1, values, p.class_budgets()).await?;
                }
            }
            next_check = s + 1;
            continue;
        }
        let wait = clock.until(mid).max(Duration::from_millis(1));
        tokio::select! {
            _ = &mut signal => { interrupted = true; break; }
            _ = tokio::time::sleep_until(wall_end) => break,
            Some(ev) = ev_rx.recv() => m.event(ev),
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if interrupted {
        say("stopping (signal)".into());
    }
    let _ = stop_tx.send(true);
    let status = h.ask(Command::Status).await;
    while let Some(ev) = ev_rx.recv().await {
        m.event(ev);
    }
    for t in tasks {
        t.await.context("an agent task failed")??;
    }
    running.shutdown().await?;

    let end = grid.slot_at(clock.now()).min(last);
    let mut report = m.report(&fleet, &roles, s0, end, slot_ms);
    if let Some(st) = status {
        report.awards = st.stats.awards;
        report.requests = st.stats.requests;
        report.preemptions = st.stats.preemptions;
        report.security_rejects = st.stats.security_rejects;
    }
    if let Some((_, b)) = batteries.first() {
        report.battery_min_kwh = b.min_stored_mwh / 1e6;
        report.unserved_kwh = b.unserved_mwh / 1e6;
    }
    report.http = http;
    report.broker = broker;
    write_report(&a.out, &fleet, &m, &roles, (s0, end), a.seed, &mut report)?;
    Ok(report)
}

/// Writes the figure of the site's day and `out/report.json`, and lists them in the report.
fn write_report(
    out: &std::path::Path,
    fleet: &Fleet,
    m: &Measure,
    roles: &HashMap<DeviceId, Role>,
    (s0, end): (Slot, Slot),
    seed: u64,
    report: &mut DemoReport,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let hours = |s: Slot| {
        (f64::from(fleet.start_of_day_s) + f64::from(s - s0) * fleet.slot_ms as f64 / 1000.0)
            / 3600.0
    };
    let kw = |mw: i64| mw as f64 / 1e6;
    let uncoordinated = m.uncoordinated(fleet, end - s0);
    let mut budget = Vec::new();
    let mut committed = Vec::new();
    let mut held = Vec::new();
    let mut measured = Vec::new();
    let mut wished = Vec::new();
    for s in s0..end {
        if let Some(&(cap, com, res)) = m.site_book.get(&s) {
            budget.push((hours(s), kw(cap)));
            committed.push((hours(s), kw(com)));
            held.push((hours(s), kw(res)));
        }
        measured.push((hours(s), kw(m.site_load(s, roles))));
        wished.push((hours(s), kw(uncoordinated[(s - s0) as usize])));
    }
    let mut chart = Chart::new(
        format!(
            "powerslot demo — {} devices on solar and a battery (seed {seed})",
            fleet.devices.len(),
        ),
        "time of day",
        "power at the site (kW)",
    )
    .with(Series::new("measured load", measured, Style::Area).color(1))
    .with(Series::new("granted + held", committed, Style::Step).color(2))
    .with(Series::new("held for load nobody controls", held, Style::Step).color(4))
    .with(Series::new("budget published", budget, Style::DashedStep).color(0))
    .with(Series::new("uncoordinated", wished, Style::Line).color(3));
    chart.x_axis = Axis::Clock;
    report.files = chart
        .save(out, "site")?
        .into_iter()
        .map(|p| p.display().to_string())
        .collect();
    let json = out.join("report.json");
    report.files.push(json.display().to_string());
    std::fs::write(&json, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    Ok(())
}

/// What the coordinator expects the load nobody controls under `circuit` to draw and
/// reserves for it, per slot from `from`: what the budget publisher keeps the battery for.
async fn expected_uncontrollable(
    h: &service::Handle,
    circuit: &str,
    from: Slot,
    n: u32,
) -> Result<UncontrolledLoad> {
    let name = circuit.to_string();
    let r = h
        .ask(|reply| Command::Budget {
            circuit: Some(name),
            from: Some(from),
            to: Some(from.saturating_add(n)),
            reply,
        })
        .await
        .context("the coordinator stopped")?;
    let curve = r.map_err(|e| anyhow::anyhow!("budget of circuit '{circuit}': {e}"))?;
    // The book may start later than `from`; align to `from`.
    let skip = curve.from_slot.saturating_sub(from) as usize;
    let aligned = |v: Vec<i64>| {
        let mut out = vec![0; skip];
        out.extend(v);
        out
    };
    Ok(UncontrolledLoad {
        expected: aligned(curve.expected_mw),
        reserved: aligned(curve.reserved_mw),
        critical: aligned(curve.critical_mw),
    })
}

async fn set_budget(
    h: &service::Handle,
    circuit: &str,
    from: Slot,
    values: Vec<i64>,
    class_budgets: &[(Priority, Vec<i64>)],
) -> Result<()> {
    let name = circuit.to_string();
    let class_budgets = class_budgets.to_vec();
    let r = h
        .ask(|reply| Command::SetBudget {
            circuit: Some(name),
            from_slot: from,
            values_mw: values,
            class_budgets,
            reply,
        })
        .await
        .context("the coordinator stopped")?;
    r.map_err(|e| anyhow::anyhow!("budget of circuit '{circuit}': {e}"))
}

/// The request a job makes, on the site's slots (the fleet's slot 0 is `s0`).
fn job_need(j: &SimJob, priority: Priority, s0: Slot) -> Job {
    let demand = match &j.work {
        Work::Cycle {
            actual_mw,
            past_runs,
            interruptible,
        } => Demand::PowerProfile {
            profile: profile_forecast(past_runs, actual_mw),
            interruptible: *interruptible,
            min_on_slots: 0,
            min_off_slots: 0,
        },
        Work::Energy {
            energy_mwh,
            min_mw,
            max_mw,
        } => Demand::EnergyTarget {
            energy_mwh: *energy_mwh,
            min_mw: *min_mw,
            max_mw: *max_mw,
        },
    };
    Job {
        at: s0 + j.arrival,
        need: Need {
            priority,
            earliest_start: s0 + j.earliest,
            deadline: s0 + j.deadline,
            demand,
            bid_per_mille: 1000,
            accept_until: s0 + j.accept_until.max(j.deadline),
        },
    }
}

/// Why a job was missed, from the coordinator's last telling refusal of it.
fn miss_reason(r: &RejectReason) -> String {
    match r {
        RejectReason::Full {
            circuit,
            lowest_class_there: Some(class),
            ..
        } => format!(
            "waited for room on '{circuit}', held there by the {} class and above",
            class.name()
        ),
        RejectReason::Full { circuit, .. } => format!("waited for room on '{circuit}'"),
        RejectReason::Expired { .. } => "asked after its window had passed".to_string(),
        other => format!("refused: {other:?}"),
    }
}

fn job_peak_mw(j: &SimJob) -> i64 {
    match &j.work {
        Work::Cycle {
            actual_mw,
            past_runs,
            ..
        } => actual_mw
            .iter()
            .chain(past_runs.iter().flatten())
            .copied()
            .max()
            .unwrap_or(0),
        Work::Energy { max_mw, .. } => *max_mw,
    }
}

/// The demo's measurements, fed by the agents' events and the coordinator's book.
struct Measure {
    s0: Slot,
    /// slot → device → (drawn, limit), mW, as the agents reported the slot.
    slots: BTreeMap<Slot, HashMap<DeviceId, (i64, i64)>>,
    /// Requests of each device, in the order its jobs asked.
    requests: HashMap<DeviceId, Vec<u64>>,
    /// How each job ended: (device, request) → (end, progress).
    ended: HashMap<(DeviceId, u64), (NeedEnd, i64)>,
    /// The last refusal of each request that said where the room was lacking (or, before
    /// one did, the last refusal): (device, request) → reason.
    refused: HashMap<(DeviceId, u64), RejectReason>,
    violations: u64,
    peak_committed_mw: i64,
    /// The site's (capacity, committed, held for load nobody controls) in the middle of
    /// every slot, mW.
    site_book: BTreeMap<Slot, (i64, i64, i64)>,
    messages: u64,
    circuits: Vec<String>,
}

impl Measure {
    fn new(fleet: &Fleet, s0: Slot) -> Self {
        Self {
            s0,
            slots: BTreeMap::new(),
            requests: HashMap::new(),
            ended: HashMap::new(),
            refused: HashMap::new(),
            violations: 0,
            peak_committed_mw: 0,
            site_book: BTreeMap::new(),
            messages: 0,
            circuits: fleet.circuits.iter().map(|c| c.name.clone()).collect(),
        }
    }

    fn event(&mut self, ev: AgentEvent) {
        match ev {
            AgentEvent::Requested { device, request } => {
                self.requests.entry(device).or_default().push(request);
            }
            AgentEvent::Slot {
                device,
                slot,
                drawn_mw,
                limit_mw,
            } => {
                self.slots
                    .entry(slot)
                    .or_default()
                    .insert(device, (drawn_mw, limit_mw));
            }
            AgentEvent::JobEnded {
                device,
                request,
                end,
                progress,
            } => {
                self.ended.insert((device, request), (end, progress));
            }
            AgentEvent::Refused {
                device,
                request,
                reason,
                ..
            } => {
                // "Expired" and "not held" end a wait; the reason worth telling is the wait's.
                let key = (device, request);
                if matches!(reason, RejectReason::Expired { .. } | RejectReason::NotHeld) {
                    self.refused.entry(key).or_insert(reason);
                } else {
                    self.refused.insert(key, reason);
                }
            }
            AgentEvent::Traffic { sent, received, .. } => self.messages += sent + received,
            _ => {}
        }
    }

    /// Compares what the coordinator committed on every circuit in slot `s` with the
    /// capacity published for it.
    async fn check_slot(&mut self, h: &service::Handle, s: Slot) -> Result<()> {
        for c in &self.circuits {
            let name = c.clone();
            let r = h
                .ask(|reply| Command::Budget {
                    circuit: Some(name),
                    from: Some(s),
                    to: Some(s + 1),
                    reply,
                })
                .await
                .context("the coordinator stopped")?;
            let curve = r.map_err(|e| anyhow::anyhow!("budget of '{c}': {e}"))?;
            if let (Some(&cap), Some(&committed)) =
                (curve.capacity_mw.first(), curve.committed_mw.first())
            {
                // A grant over the capacity is a violation; load nobody controls that alone
                // exceeds it is not a grant's doing (the coordinator grants nothing there).
                let reserved = curve.reserved_mw.first().copied().unwrap_or(0);
                if committed > cap && committed > reserved {
                    self.violations += 1;
                }
                if Some(c) == self.circuits.first() {
                    self.peak_committed_mw = self.peak_committed_mw.max(committed);
                    self.site_book.insert(s, (cap, committed, reserved));
                }
            }
        }
        Ok(())
    }

    /// What a device really drew in a slot it reported: its meter for household load, its
    /// limit for jobs (they run at what they are granted), the lesser of its wish and its
    /// limit for an elastic load.
    fn drawn(&self, role: &Role, s: Slot, drawn: i64, limit: i64) -> i64 {
        match role {
            Role::Base => drawn,
            Role::Jobs(_) => limit,
            Role::Elastic(desired) => {
                let want = s
                    .checked_sub(self.s0)
                    .and_then(|r| desired.get(r as usize))
                    .copied()
                    .unwrap_or(0);
                want.min(limit)
            }
        }
    }

    fn site_load(&self, s: Slot, roles: &HashMap<DeviceId, Role>) -> i64 {
        self.load_of(s, roles, |_| true)
    }

    /// What the load nobody controls drew in slot `s`, mW (the site meter's view of it).
    fn uncontrolled_load(&self, s: Slot, roles: &HashMap<DeviceId, Role>) -> i64 {
        self.load_of(s, roles, |r| matches!(r, Role::Base))
    }

    fn load_of(
        &self,
        s: Slot,
        roles: &HashMap<DeviceId, Role>,
        keep: impl Fn(&Role) -> bool,
    ) -> i64 {
        self.slots.get(&s).map_or(0, |devs| {
            devs.iter()
                .filter_map(|(d, &(dr, lim))| {
                    roles
                        .get(d)
                        .filter(|r| keep(r))
                        .map(|r| self.drawn(r, s, dr, lim))
                })
                .sum()
        })
    }

    /// One line about slot `s` (labelled with the time it ended).
    fn progress_line(
        &self,
        s: Slot,
        fleet: &Fleet,
        load_mw: i64,
        solar_mw: i64,
        stored_mwh: i64,
        st: Option<&service::Status>,
    ) -> String {
        let minutes =
            fleet.start_of_day_s / 60 + (s + 1 - self.s0) * (fleet.slot_ms / 60_000) as u32;
        let clock = format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60);
        let (awards, waiting, pre) = st.map_or((0, 0, 0), |st| {
            (st.stats.awards, st.waiting, st.stats.preemptions)
        });
        format!(
            "{clock}  load {:5.2} kW  solar {:5.2} kW  battery {:5.1} kWh  awards {awards:4}  waiting {waiting:2}  preemptions {pre:3}  violations {}",
            load_mw as f64 / 1e6,
            solar_mw as f64 / 1e6,
            stored_mwh as f64 / 1e6,
            self.violations
        )
    }

    /// The site's load, slot by slot, had every device run as it wished (see
    /// [`uncoordinated_mw`]).
    fn uncoordinated(&self, fleet: &Fleet, slots: u32) -> Vec<i64> {
        let mut total = vec![0i64; slots as usize];
        for d in &fleet.devices {
            for (u, v) in
                total
                    .iter_mut()
                    .zip(uncoordinated_mw(&d.kind, slots as usize, fleet.slot_ms))
            {
                *u += v;
            }
        }
        total
    }

    fn report(
        &self,
        fleet: &Fleet,
        roles: &HashMap<DeviceId, Role>,
        s0: Slot,
        end: Slot,
        slot_ms: u64,
    ) -> DemoReport {
        let slots = end.saturating_sub(s0);
        let slot_h = slot_ms as f64 / 3_600_000.0;
        let mut peak = 0i64;
        let mut served_mwh = 0.0;
        for s in s0..end {
            peak = peak.max(self.site_load(s, roles));
        }
        for (&s, devs) in self.slots.range(s0..end) {
            for (d, &(dr, lim)) in devs {
                if let Some(role) = roles.get(d)
                    && !matches!(role, Role::Base)
                {
                    served_mwh += self.drawn(role, s, dr, lim) as f64 * slot_h;
                }
            }
        }
        let uncoordinated = self.uncoordinated(fleet, slots);
        // Jobs whose deadline fell inside the run: done, or missed.
        let (mut jobs, mut done, mut misses) = (0, 0, 0);
        let mut misses_by_reason: BTreeMap<String, u64> = BTreeMap::new();
        for (id, role) in roles {
            let Role::Jobs(list) = role else { continue };
            let reqs = self.requests.get(id).map_or(&[][..], Vec::as_slice);
            for (k, j) in list.iter().enumerate() {
                if s0 + j.deadline > end {
                    continue;
                }
                jobs += 1;
                let need = match &j.work {
                    Work::Cycle { actual_mw, .. } => actual_mw.len() as i64,
                    Work::Energy { energy_mwh, .. } => *energy_mwh,
                };
                let ok = reqs
                    .get(k)
                    .and_then(|r| self.ended.get(&(id.clone(), *r)))
                    .is_some_and(|(e, p)| *e == NeedEnd::Served && *p >= need * 99 / 100);
                if ok {
                    done += 1;
                } else {
                    misses += 1;
                    let why = reqs
                        .get(k)
                        .and_then(|r| self.refused.get(&(id.clone(), *r)))
                        .map_or_else(|| "not served in full".to_string(), miss_reason);
                    *misses_by_reason.entry(why).or_default() += 1;
                }
            }
        }
        DemoReport {
            devices: fleet.devices.len(),
            slots,
            budget_violations: self.violations,
            peak_w: peak as f64 / 1000.0,
            uncoordinated_peak_w: uncoordinated.iter().copied().max().unwrap_or(0) as f64 / 1000.0,
            deadline_misses: misses,
            misses_by_reason,
            jobs,
            jobs_done: done,
            energy_served_kwh: served_mwh / 1e6,
            messages: self.messages,
            ..DemoReport::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_clock_reads_the_target_after_the_lead() {
        let t = scenario_start(unix_ms(), 12 * 3600);
        let c = demo_clock(1440.0, t, 2_000);
        let lead = c.at_unix_ms(unix_ms() + 2_000).0;
        // Within the few ms between the two readings of the wall clock, times the speed.
        assert!(lead.abs_diff(t) < 1440 * 50, "{lead} vs {t}");
        assert_eq!((t / 1000) % 86_400, 12 * 3600);
    }
}
