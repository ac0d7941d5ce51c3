//! `powerslot load`: many agents on loopback against one coordinator, measured.
//!
//! The coordinator runs as a child process (`powerslot serve`, embedded broker), so its CPU
//! time and memory are its own; the agents run in this process, each with its own MQTT
//! connection and login. Every agent asks for a few seeded jobs (1–3 slots of 0.5–3 kW with
//! some slack) at random slots. The command reports messages per second, request-to-award
//! latency (median and 99th percentile, measured by the agents from a request's first
//! sending to its award's arrival), the latency to a request's first answer of any kind (an
//! award, an offer or a refusal: on an oversubscribed site a request may then wait slots for
//! capacity, which is the protocol's queue, not the system's speed) — both over the requests
//! sent once every agent had connected, those sent during the connection storm reported
//! apart — slots where the devices' limits added up to more than the site's capacity, and
//! the coordinator's CPU and peak memory. The default site (1 kW per agent) is
//! oversubscribed about 1.4 times; with `--watts-per-agent 5000` every request fits as it
//! arrives.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant as WallInstant};

use anyhow::{Context, Result, bail};
use clap::Args;
use powerslot_protocol::agent::Need;
use powerslot_protocol::circuit::CircuitSpec;
use powerslot_protocol::{Demand, DeviceId, PowerValue, Priority, SlotClock};
use powerslot_server::agent::{self, AgentEvent, AgentOptions, Job};
use powerslot_server::clock::{Clock, unix_ms};
use powerslot_server::keys::parse_key;
use powerslot_server::mqtt::{BrokerAddr, free_port};
use powerslot_server::probe;
use powerslot_server::service::{self, ServeOptions, SiteSetup};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

/// `powerslot load`.
#[derive(Args)]
pub(crate) struct LoadArgs {
    /// Agents (devices), each with its own MQTT connection.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Wall-clock seconds of measurement.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Slot length, seconds of protocol time.
    #[arg(long, default_value_t = 60)]
    slot_seconds: u64,
    /// Protocol time runs this many times faster than the wall clock.
    #[arg(long, default_value_t = 20.0)]
    speed: f64,
    /// Site capacity per agent, W.
    #[arg(long, default_value_t = 1000.0)]
    watts_per_agent: f64,
    /// Jobs each agent asks for during the run.
    #[arg(long, default_value_t = 4)]
    jobs_per_agent: usize,
    /// Seed of the jobs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct LoadReport {
    agents: usize,
    connected: usize,
    seconds: f64,
    slots: u32,
    requests: usize,
    awards: usize,
    latency_median_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    /// Request to its first answer (award, offer or refusal): how fast the system responds,
    /// without the wait for capacity that an oversubscribed site imposes.
    answer_median_ms: f64,
    answer_p99_ms: f64,
    /// Seconds until every agent had connected (`None`: some never did).
    all_connected_s: Option<f64>,
    /// Requests first sent before then (not in the latencies above), and their p99s.
    connecting_awards: usize,
    connecting_award_p99_ms: f64,
    connecting_answers: usize,
    connecting_answer_p99_ms: f64,
    messages: u64,
    messages_per_second: f64,
    budget_violations: usize,
    capacity_w: f64,
    peak_granted_w: f64,
    coordinator_cpu_percent: f64,
    coordinator_peak_rss_mib: f64,
    frames_refused: f64,
    publish_dropped: f64,
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Peak resident memory of a process, MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_http(addr: SocketAddr, child: &mut Child) -> Result<()> {
    for _ in 0..300 {
        if probe::get(addr, "/api/health").is_ok() {
            return Ok(());
        }
        if let Some(st) = child.try_wait()? {
            bail!("the coordinator exited during start-up ({st})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the coordinator's API did not come up on {addr}")
}

pub(crate) fn run(a: LoadArgs) -> Result<()> {
    if a.agents == 0 || a.seconds == 0 || a.slot_seconds == 0 {
        bail!("--agents, --seconds and --slot-seconds must be at least 1");
    }
    if !(a.speed.is_finite() && a.speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let dir = std::env::temp_dir().join(format!("powerslot-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = run_in(&a, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(a: &LoadArgs, dir: &PathBuf) -> Result<()> {
    let slot_ms = a.slot_seconds * 1000;
    let clock = Clock::compressed(unix_ms(), a.speed);
    let capacity_mw = (a.watts_per_agent * 1000.0 * a.agents as f64).round() as i64;
    let site = "load";
    let mut opts = ServeOptions::new(dir, site);
    opts.setup = SiteSetup {
        slot_ms: Some(slot_ms),
        clock: Some(clock),
        circuits: Some(vec![CircuitSpec {
            name: "site".into(),
            parent: None,
            rating_mw: capacity_mw,
        }]),
    };
    let (secret, mut ledger) = service::prepare(&opts)?;
    let specs: Vec<service::DeviceSpec> = (0..a.agents)
        .map(|i| {
            let id = DeviceId::new(format!("dev{i:05}")).expect("valid id");
            (id, None, Priority::Normal, None)
        })
        .collect();
    let devices = service::register_devices(&mut ledger, &secret, &specs)?;
    drop(ledger);

    let mqtt_port = free_port("127.0.0.1")?;
    let http = SocketAddr::from(([127, 0, 0, 1], free_port("127.0.0.1")?));
    let exe = std::env::current_exe().context("cannot find the powerslot binary")?;
    let child = Command::new(exe)
        .args(["serve", "--site", site, "--data"])
        .arg(dir)
        .args(["--mqtt", &format!("127.0.0.1:{mqtt_port}")])
        .args(["--http", &http.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot start the coordinator")?;
    let mut child = ChildGuard(child);
    wait_http(http, &mut child.0)?;
    let pid = child.0.id();
    let broker = BrokerAddr {
        host: "127.0.0.1".into(),
        port: mqtt_port,
    };

    let grid = SlotClock::new(powerslot_protocol::Instant(0), slot_ms);
    let first = grid.slot_at(clock.now()) + 2;
    let run_slots = ((a.seconds as f64 * a.speed * 1000.0) / slot_ms as f64).floor() as u32;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let mut agents = Vec::new();
    for nd in &devices {
        let id = DeviceId::new(nd.id.as_str()).expect("registered ids are valid");
        let key = parse_key(&nd.key).expect("keys are hex");
        let mut o = AgentOptions::new(site, broker.clone(), id, key, slot_ms);
        o.clock = clock;
        for _ in 0..a.jobs_per_agent {
            let at = first + rng.random_range(0..run_slots.saturating_sub(4).max(1));
            let len = rng.random_range(1..=3usize);
            let kw = rng.random_range(500..=3000i64) * 1000;
            let slack = rng.random_range(2..=6u32);
            o.jobs.push(Job {
                at,
                need: Need {
                    priority: Priority::Normal,
                    earliest_start: at + 1,
                    deadline: at + 1 + len as u32 + slack,
                    demand: Demand::PowerProfile {
                        profile: vec![PowerValue::exact(kw); len],
                        interruptible: false,
                        min_on_slots: 0,
                        min_off_slots: 0,
                    },
                    bid_per_mille: 1000,
                    accept_until: at + 1 + len as u32 + slack,
                },
            });
        }
        agents.push(o);
    }

    let rt = super::serve::runtime()?;
    let n = agents.len();
    let outcome = rt.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for o in agents {
            tasks.push(tokio::spawn(agent::run(
                o,
                stop_rx.clone(),
                Some(ev_tx.clone()),
            )));
        }
        drop(ev_tx);
        let started = WallInstant::now();
        let cpu0 = cpu_seconds(pid).unwrap_or(0.0);
        let mut connected = std::collections::HashSet::new();
        let mut requested = 0usize;
        let mut latencies = Vec::new();
        let mut answers = Vec::new();
        let mut all_connected = None;
        let mut limits: BTreeMap<u32, HashMap<DeviceId, i64>> = BTreeMap::new();
        let (mut sent, mut received) = (0u64, 0u64);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(a.seconds);
        let mut stopped = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline), if !*stop_tx.borrow() => {
                    let _ = stop_tx.send(true);
                }
                ev = ev_rx.recv() => match ev {
                    None => break,
                    Some(AgentEvent::Connected(d)) => {
                        connected.insert(d);
                        if connected.len() == n && all_connected.is_none() {
                            all_connected = Some(started.elapsed().as_secs_f64());
                        }
                    }
                    Some(AgentEvent::Requested { .. }) => requested += 1,
                    // Each with when its request was first sent, seconds into the run.
                    Some(AgentEvent::Awarded { latency_s, .. }) => {
                        latencies.push((started.elapsed().as_secs_f64() - latency_s, latency_s));
                    }
                    Some(AgentEvent::Answered { latency_s, .. }) => {
                        answers.push((started.elapsed().as_secs_f64() - latency_s, latency_s));
                    }
                    Some(AgentEvent::Slot { device, slot, limit_mw, .. }) => {
                        limits.entry(slot).or_default().insert(device, limit_mw);
                    }
                    Some(AgentEvent::Traffic { sent: s, received: r, .. }) => {
                        sent += s;
                        received += r;
                    }
                    Some(AgentEvent::Stopped(_)) => {
                        stopped += 1;
                        if stopped == n { break; }
                    }
                    Some(_) => {}
                }
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid).unwrap_or(cpu0) - cpu0;
        for t in tasks {
            t.await.context("an agent task failed")??;
        }
        Ok::<_, anyhow::Error>((
            all_connected,
            connected.len(),
            requested,
            latencies,
            answers,
            limits,
            sent + received,
            wall,
            cpu,
        ))
    })?;
    let (all_connected, connected, requests, lat, answers, limits, messages, wall, cpu) = outcome;
    // Requests sent while agents were still connecting wait for the broker's accept queue
    // and their own reconnect backoff, not for the coordinator: they are reported apart.
    let settled = all_connected.unwrap_or(f64::NEG_INFINITY);
    let split = |v: Vec<(f64, f64)>| -> (Vec<f64>, Vec<f64>) {
        let (mut after, mut before): (Vec<_>, Vec<_>) =
            v.into_iter().partition(|&(sent, _)| sent >= settled);
        after.sort_by(|a, b| a.1.total_cmp(&b.1));
        before.sort_by(|a, b| a.1.total_cmp(&b.1));
        (
            after.into_iter().map(|x| x.1).collect(),
            before.into_iter().map(|x| x.1).collect(),
        )
    };
    let (lat, lat_connecting) = split(lat);
    let (answers, answers_connecting) = split(answers);
    let metrics = probe::get(http, "/metrics")
        .map(|r| r.body)
        .unwrap_or_default();
    let rss = peak_rss_mib(pid).unwrap_or(0.0);
    // Graceful stop: SIGTERM, as an operator would.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    for _ in 0..100 {
        if child.0.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut violations = 0;
    let mut peak = 0i64;
    for per_dev in limits.values() {
        let total: i64 = per_dev.values().sum();
        peak = peak.max(total);
        if total > capacity_mw {
            violations += 1;
        }
    }
    let refused: f64 = powerslot_server::metrics::Refusal::ALL
        .iter()
        .filter_map(|r| {
            probe::metric(
                &metrics,
                &format!("powerslot_frames_refused_total{{reason=\"{}\"}}", r.name()),
            )
        })
        .sum();
    let report = LoadReport {
        agents: a.agents,
        connected,
        seconds: wall,
        slots: limits.len() as u32,
        requests,
        awards: lat.len(),
        latency_median_ms: percentile(&lat, 0.5) * 1000.0,
        latency_p99_ms: percentile(&lat, 0.99) * 1000.0,
        latency_max_ms: lat.last().copied().unwrap_or(0.0) * 1000.0,
        answer_median_ms: percentile(&answers, 0.5) * 1000.0,
        answer_p99_ms: percentile(&answers, 0.99) * 1000.0,
        all_connected_s: all_connected,
        connecting_awards: lat_connecting.len(),
        connecting_award_p99_ms: percentile(&lat_connecting, 0.99) * 1000.0,
        connecting_answers: answers_connecting.len(),
        connecting_answer_p99_ms: percentile(&answers_connecting, 0.99) * 1000.0,
        messages,
        messages_per_second: messages as f64 / wall.max(1e-9),
        budget_violations: violations,
        capacity_w: capacity_mw as f64 / 1000.0,
        peak_granted_w: peak as f64 / 1000.0,
        coordinator_cpu_percent: 100.0 * cpu / wall.max(1e-9),
        coordinator_peak_rss_mib: rss,
        frames_refused: refused,
        publish_dropped: probe::metric(&metrics, "powerslot_publish_dropped_total").unwrap_or(0.0),
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} agents ({} connected), {:.1} s, {} slots: {} requests, {} awards",
            report.agents,
            report.connected,
            report.seconds,
            report.slots,
            report.requests,
            report.awards
        );
        println!(
            "messages: {} ({:.0}/s); request-to-award latency: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            report.messages,
            report.messages_per_second,
            report.latency_median_ms,
            report.latency_p99_ms,
            report.latency_max_ms
        );
        println!(
            "first answer (award, offer or refusal): median {:.1} ms, p99 {:.1} ms; the rest of \
             an award's latency is waiting for capacity",
            report.answer_median_ms, report.answer_p99_ms
        );
        match report.all_connected_s {
            Some(t) => println!(
                "all agents connected after {t:.1} s; requests sent before then (not counted \
                 above): {} awards (p99 {:.1} ms), {} first answers (p99 {:.1} ms)",
                report.connecting_awards,
                report.connecting_award_p99_ms,
                report.connecting_answers,
                report.connecting_answer_p99_ms
            ),
            None => println!("not every agent connected: every latency counts from the start"),
        }
        println!(
            "budget: capacity {:.0} W, peak granted {:.0} W, {} slot(s) over capacity",
            report.capacity_w, report.peak_granted_w, report.budget_violations
        );
        println!(
            "coordinator: {:.0} % CPU, peak RSS {:.1} MiB; {} frames refused, {} publishes dropped",
            report.coordinator_cpu_percent,
            report.coordinator_peak_rss_mib,
            report.frames_refused,
            report.publish_dropped
        );
    }
    Ok(())
}
