//! `powerslot agent`: run one device or many against a site's coordinator.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use powerslot_core::Slot;
use powerslot_forecast::model::ModelSpec;
use powerslot_forecast::series::{ReadOptions, read_csv};
use powerslot_protocol::agent::Need;
use powerslot_protocol::codec::Encoding;
use powerslot_protocol::{Demand, DeviceId, Priority, SlotClock};
use powerslot_server::agent::{self, AgentEvent, AgentOptions, Job, Source};
use powerslot_server::clock::Clock;
use powerslot_server::keys::parse_key;
use powerslot_server::mqtt::BrokerAddr;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::serve::{ClockArgs, init_tracing, runtime, stop_signal};

/// `powerslot agent`.
#[derive(Args)]
pub(crate) struct AgentArgs {
    /// The coordinator's broker.
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    broker: String,
    /// The site's name.
    #[arg(long, default_value = "home")]
    site: String,
    /// A device to run: ID, or ID:COLUMN to replay that column of --trace. Repeat for many.
    #[arg(long = "device", value_name = "ID", required = true)]
    devices: Vec<String>,
    /// Folder with each device's key in <id>.key (as `devices add --key-out` writes them).
    #[arg(long, conflicts_with = "key")]
    keys: Option<PathBuf>,
    /// The key (64 hex digits), for a single device.
    #[arg(long)]
    key: Option<String>,
    #[command(flatten)]
    clock: ClockArgs,
    /// Replay a recorded trace (CSV) as the device's meter, one slot per slot.
    #[arg(long, conflicts_with_all = ["command", "meter_topic"])]
    trace: Option<PathBuf>,
    /// The trace's time column.
    #[arg(long, default_value = "timestamp")]
    time_column: String,
    /// The trace's value column (unless the device names one as ID:COLUMN).
    #[arg(long, default_value = "power_w")]
    value_column: String,
    /// Multiply trace values by this to get watts (1000 for kW).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Trace slots that warm the forecaster up before the replay starts (default: a week, at
    /// most half the trace).
    #[arg(long)]
    warmup_slots: Option<usize>,
    /// A command that prints one reading (watts) per line: the device's meter.
    #[arg(long, conflicts_with = "meter_topic")]
    command: Option<String>,
    /// An MQTT topic a real meter publishes readings (watts, or JSON with power_w) to.
    #[arg(long)]
    meter_topic: Option<String>,
    /// A JSON file of jobs: [{"at", "earliest_start", "deadline", "priority", "demand"}] with
    /// slots counted from the agent's start and the demand as in the protocol.
    #[arg(long)]
    jobs: Option<PathBuf>,
    /// Class of the device's forecast requests.
    #[arg(long, default_value = "normal")]
    class: String,
    /// The most the device's port delivers, kW.
    #[arg(long, default_value_t = 10.0)]
    max_kw: f64,
    /// Forecast model (persistence, seasonal-naive, ewma, ets, mstl, ridge, quantile, ...).
    #[arg(long, default_value = "ewma")]
    model: String,
    /// Slots the telemetry forecast looks ahead.
    #[arg(long, default_value_t = 4)]
    horizon: usize,
    /// Folder where each device keeps its sequence-number reservation (<id>.seq).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Send compact binary frames instead of JSON.
    #[arg(long)]
    binary: bool,
    /// Print what the devices do (awards, slots) on stdout.
    #[arg(long)]
    verbose: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobSpec {
    at: Slot,
    earliest_start: Option<Slot>,
    deadline: Slot,
    #[serde(default)]
    priority: Priority,
    demand: Demand,
    #[serde(default = "default_bid")]
    bid_per_mille: u32,
    accept_until: Option<Slot>,
}

fn default_bid() -> u32 {
    1000
}

fn read_jobs(path: &PathBuf, first: Slot) -> Result<Vec<Job>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let specs: Vec<JobSpec> =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(specs
        .into_iter()
        .map(|j| {
            let earliest = first + j.earliest_start.unwrap_or(j.at);
            Job {
                at: first + j.at,
                need: Need {
                    priority: j.priority,
                    earliest_start: earliest,
                    deadline: first + j.deadline,
                    demand: j.demand,
                    bid_per_mille: j.bid_per_mille,
                    accept_until: first + j.accept_until.unwrap_or(j.deadline),
                },
            }
        })
        .collect())
}

pub(crate) fn run(a: AgentArgs) -> Result<()> {
    let broker = BrokerAddr::parse(&a.broker)?;
    let slot_ms = a.clock.slot_ms()?.unwrap_or(900_000);
    let clock = a.clock.clock()?.unwrap_or_else(Clock::realtime);
    let class = Priority::parse(&a.class)
        .with_context(|| format!("--class '{}': one of low, normal, high, critical", a.class))?;
    if !(a.max_kw.is_finite() && a.max_kw >= 0.0) {
        bail!("--max-kw must be a number of kW, not {}", a.max_kw);
    }
    let model = ModelSpec::parse(&a.model).map_err(|e| anyhow::anyhow!("--model: {e}"))?;
    if a.devices.len() > 1 && a.key.is_some() {
        bail!("--key is for one device; give many devices their keys with --keys DIR");
    }
    let first = SlotClock::new(powerslot_protocol::Instant(0), slot_ms).slot_at(clock.now());
    let jobs = match &a.jobs {
        Some(p) => read_jobs(p, first + 1)?,
        None => Vec::new(),
    };
    let mut all = Vec::new();
    for spec in &a.devices {
        let (id, column) = match spec.split_once(':') {
            Some((i, c)) if a.trace.is_some() => (i, Some(c)),
            _ => (spec.as_str(), None),
        };
        let id = DeviceId::new(id).map_err(|e| anyhow::anyhow!("--device '{spec}': {e}"))?;
        let key_text = match (&a.key, &a.keys) {
            (Some(k), _) => k.clone(),
            (None, Some(dir)) => {
                let p = dir.join(format!("{id}.key"));
                std::fs::read_to_string(&p).with_context(|| p.display().to_string())?
            }
            (None, None) => bail!("give the device's key with --key HEX or --keys DIR"),
        };
        let key = parse_key(&key_text)
            .with_context(|| format!("device '{id}': a key is 64 hexadecimal digits"))?;
        let source = if let Some(path) = &a.trace {
            let col = column.unwrap_or(&a.value_column);
            let mut ro = ReadOptions::new(a.time_column.clone(), col);
            ro.step_seconds = Some((slot_ms / 1000).max(1) as i64);
            let series = read_csv(path, &ro).map_err(|e| anyhow::anyhow!("{e}"))?;
            let values: Vec<f64> = series.values.iter().map(|v| v * a.scale).collect();
            if values.len() < 2 {
                bail!(
                    "{}: column '{col}' has fewer than two slots",
                    path.display()
                );
            }
            let week = (7 * 86_400_000 / slot_ms) as usize;
            let start = a.warmup_slots.unwrap_or(week).min(values.len() / 2);
            Source::Trace {
                values_w: values,
                start,
            }
        } else if let Some(cmd) = &a.command {
            Source::Command(cmd.clone())
        } else if let Some(t) = &a.meter_topic {
            Source::Topic(t.clone())
        } else {
            Source::None
        };
        let mut o = AgentOptions::new(&a.site, broker.clone(), id, key, slot_ms);
        o.clock = clock;
        o.source = source;
        o.jobs = jobs.clone();
        o.priority = class;
        o.max_mw = (a.max_kw * 1e6).round() as i64;
        o.model = model.clone();
        o.horizon = a.horizon.max(1);
        o.state_dir = a.state.clone();
        o.encoding = if a.binary {
            Encoding::Binary
        } else {
            Encoding::Json
        };
        all.push(o);
    }
    init_tracing();
    let verbose = a.verbose;
    let n = all.len();
    runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for o in all {
            tasks.push(tokio::spawn(agent::run(
                o,
                stop_rx.clone(),
                Some(ev_tx.clone()),
            )));
        }
        drop(ev_tx);
        println!("powerslot agent: {n} device(s) on {}", broker.url());
        let mut stopped = 0;
        loop {
            tokio::select! {
                _ = stop_signal() => {
                    let _ = stop_tx.send(true);
                    break;
                }
                ev = ev_rx.recv() => match ev {
                    None => break,
                    Some(AgentEvent::Stopped(_)) => {
                        stopped += 1;
                        if stopped == n { break; }
                    }
                    Some(e) if verbose => println!("{e:?}"),
                    Some(AgentEvent::Awarded { device, request, latency_s }) => {
                        println!("{device}: request {request} awarded after {latency_s:.3} s");
                    }
                    Some(_) => {}
                }
            }
        }
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(anyhow::anyhow!(e)),
                Err(e) => return Err(anyhow::anyhow!("an agent task failed: {e}")),
            }
        }
        Ok(())
    })
}
