//! `powerslot agent`: the device side as a running task, one per device (a process may run
//! many).
//!
//! Each agent has its own MQTT connection (its own login), its device machine
//! ([`powerslot_protocol::agent::Agent`]), a power port the machine's `Actuate` outputs drive,
//! and a forecaster. Once a slot it measures the slot that ended (from a replayed trace, a
//! command's output, or a meter's MQTT topic), feeds the forecaster and sends telemetry with
//! the P50/P90 of the next slots. A device with a meter also asks for the capacity its own
//! uncontrollable load will need ([`Demand::PowerForecast`], one request per forecast
//! window, each starting where the previous one ends); a device with jobs asks for each job
//! when it comes due.
//!
//! The connection reconnects with backoff and subscribes again (see [`crate::mqtt`]). The
//! machine retransmits what was not answered and renews its grants' leases with heartbeats,
//! so after a broker or coordinator restart the agent simply carries on. Its sequence numbers
//! never repeat, even across its own restarts: it reserves them in blocks in a state file and
//! resumes above the last reservation.

use std::path::PathBuf;
use std::time::Duration;

use powerslot_core::Slot;
use powerslot_forecast::model::ModelSpec;
use powerslot_protocol::agent::{Agent, AgentConfig, AgentInput, Need, NeedEnd, NeedState};
use powerslot_protocol::codec::{self, Encoding, Key};
use powerslot_protocol::msg::{Body, RejectReason, RequestId};
use powerslot_protocol::output::Output;
use powerslot_protocol::port::{GenericSupply, PowerPort};
use powerslot_protocol::{Demand, DeviceId, Instant, Priority, SlotClock};
use rumqttc::{AsyncClient, QoS};
use tokio::sync::{mpsc, watch};

use crate::clock::Clock;
use crate::error::{Result, ServerError};
use crate::forecaster::Forecaster;
use crate::keys;
use crate::mqtt::{self, BrokerAddr, ClientEvent, Topics};

/// Where an agent's measurements come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// No meter: only heartbeats (a device with jobs only).
    None,
    /// A recorded trace, one value per slot (watts), replayed from `start`; the values
    /// before `start` warm the forecaster up.
    Trace {
        /// The values.
        values_w: Vec<f64>,
        /// Index replayed in the agent's first slot.
        start: usize,
    },
    /// A command (run with `sh -c`) that prints one reading in watts per line.
    Command(String),
    /// An MQTT topic a real meter publishes readings to (a number of watts, or JSON with
    /// `power_w`, `power` or `w`).
    Topic(String),
}

/// A job that comes due at a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// When the device learns of it (the need arises).
    pub at: Slot,
    /// What it needs.
    pub need: Need,
}

/// How one agent runs.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// The site.
    pub site: String,
    /// The broker.
    pub broker: BrokerAddr,
    /// The device.
    pub id: DeviceId,
    /// Its key.
    pub key: Key,
    /// Slot length, ms (the site's).
    pub slot_ms: u64,
    /// Protocol time (the site's).
    pub clock: Clock,
    /// Its meter.
    pub source: Source,
    /// The protocol slot in which a [`Source::Trace`] plays its `start` (`None`: the agent's
    /// first slot). Agents started together for one scenario set it so that their traces
    /// stay aligned on the scenario's calendar whenever each of them starts.
    pub trace_anchor: Option<Slot>,
    /// Its jobs.
    pub jobs: Vec<Job>,
    /// Its class for forecast requests.
    pub priority: Priority,
    /// The most its port can deliver, mW.
    pub max_mw: i64,
    /// Forecast model.
    pub model: ModelSpec,
    /// Slots the telemetry forecast looks ahead.
    pub horizon: usize,
    /// Season of the forecaster, slots (0: none).
    pub season: usize,
    /// Slots one uncontrollable-load request covers.
    pub forecast_window: u32,
    /// Folder for the sequence-number reservation (`<id>.seq`); `None`: start at a
    /// reservation from the clock.
    pub state_dir: Option<PathBuf>,
    /// Wire encoding.
    pub encoding: Encoding,
    /// What the device's own load calls for per slot, mW, from a first protocol slot (a
    /// replayed trace; a thermostat would say it live). Said at the start of each slot
    /// ([`AgentInput::Wants`]): the device then draws no more than that, the coordinator
    /// lends what it holds above it and tops it up from the spare when it holds less.
    pub load_calls_mw: Option<(Slot, Vec<i64>)>,
}

impl AgentOptions {
    /// Defaults: no meter, no jobs, a 10 kW port, EWMA forecasts four slots ahead, a day less
    /// four slots per forecast request.
    pub fn new(site: &str, broker: BrokerAddr, id: DeviceId, key: Key, slot_ms: u64) -> Self {
        let per_day = (86_400_000 / slot_ms.max(1)).clamp(1, 4096) as u32;
        Self {
            site: site.into(),
            broker,
            id,
            key,
            slot_ms,
            clock: Clock::realtime(),
            source: Source::None,
            trace_anchor: None,
            jobs: Vec::new(),
            priority: Priority::Normal,
            max_mw: 10_000_000,
            model: ModelSpec::Ewma,
            horizon: 4,
            season: per_day as usize,
            forecast_window: per_day.saturating_sub(4).max(1),
            state_dir: None,
            encoding: Encoding::Json,
            load_calls_mw: None,
        }
    }
}

/// What an agent reports to whoever runs it (the demo, the load command).
#[derive(Clone, Debug, PartialEq)]
pub enum AgentEvent {
    /// Connected to the broker (again).
    Connected(DeviceId),
    /// A request went out for the first time (not a retransmission).
    Requested {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
    },
    /// The first answer to a request arrived: an award, an offer or a refusal (waiting for
    /// capacity is not part of it).
    Answered {
        /// The device.
        device: DeviceId,
        /// Wall-clock time from the request's first sending, seconds.
        latency_s: f64,
    },
    /// An award arrived for a request (the first time).
    Awarded {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// Wall-clock time from the request's first sending, seconds.
        latency_s: f64,
    },
    /// A slot ended: what the device drew and the limit it was under.
    Slot {
        /// The device.
        device: DeviceId,
        /// The slot.
        slot: Slot,
        /// Measured (meter) power, mW; for a device without meter, the power its jobs drew.
        drawn_mw: i64,
        /// The port's limit in that slot, mW.
        limit_mw: i64,
    },
    /// The coordinator refused a request, for now or for good (a job's refusals say why it
    /// was not served).
    Refused {
        /// The device.
        device: DeviceId,
        /// The request.
        request: RequestId,
        /// Why.
        reason: RejectReason,
        /// Whether the coordinator keeps it waiting for room.
        waiting: bool,
    },
    /// A job ended.
    JobEnded {
        /// The device.
        device: DeviceId,
        /// The need's first request id.
        request: RequestId,
        /// How.
        end: NeedEnd,
        /// Profile slots run or mWh delivered.
        progress: i64,
    },
    /// Frames published and received so far.
    Traffic {
        /// The device.
        device: DeviceId,
        /// Published.
        sent: u64,
        /// Received and accepted.
        received: u64,
        /// Received and refused (bad tag, not for this device).
        refused: u64,
    },
    /// The agent stopped.
    Stopped(DeviceId),
}

const SEQ_BLOCK: u64 = 256;

/// Reads the sequence-number reservation, reserves the next block, and returns where to
/// start. Without a state folder, the clock's milliseconds give a start above anything an
/// earlier run of this device can have used in real time.
fn reserve_seq(dir: Option<&PathBuf>, id: &DeviceId, upto: u64) -> Result<u64> {
    let Some(dir) = dir else {
        return Ok(upto.max(crate::clock::unix_ms()));
    };
    let path = dir.join(format!("{id}.seq"));
    let last = match std::fs::read_to_string(&path) {
        Ok(t) => t.trim().parse::<u64>().map_err(|_| {
            ServerError::invalid(path.display().to_string(), "not a sequence number")
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(ServerError::io(&path, e)),
    };
    let start = last.max(upto);
    std::fs::create_dir_all(dir).map_err(|e| ServerError::io(dir, e))?;
    let tmp = dir.join(format!("{id}.seq.tmp"));
    std::fs::write(&tmp, format!("{}\n", start + SEQ_BLOCK))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| ServerError::io(&path, e))?;
    Ok(start)
}

fn parse_reading(payload: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    if let Ok(v) = text.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let j: serde_json::Value = serde_json::from_str(text).ok()?;
    ["power_w", "power", "w"]
        .iter()
        .find_map(|k| j.get(k).and_then(|v| v.as_f64()))
        .filter(|v| v.is_finite())
}

/// Runs one agent until `stop` turns true. Events go to `events` if given.
pub async fn run(
    opts: AgentOptions,
    mut stop: watch::Receiver<bool>,
    events: Option<mpsc::UnboundedSender<AgentEvent>>,
) -> Result<()> {
    let topics = Topics::new(&opts.site)?;
    let id = opts.id.clone();
    let key = opts.key;
    let slot_clock = SlotClock::new(Instant(0), opts.slot_ms);
    let mut seq_reserved = reserve_seq(opts.state_dir.as_ref(), &id, 0)?;
    let now = opts.clock.now();
    let mut agent = Agent::new(AgentConfig::new(id.clone(), slot_clock), now, seq_reserved);
    seq_reserved += SEQ_BLOCK;
    let mut port = GenericSupply::new(opts.max_mw);
    let emit = |e: AgentEvent| {
        if let Some(tx) = &events {
            let _ = tx.send(e);
        }
    };

    let mut mo = mqtt::options(
        &opts.broker,
        &format!("powerslot-{}-{}", topics.site(), id),
        id.as_str(),
        &keys::mqtt_password(&key),
    );
    mo.set_keep_alive(Duration::from_secs(15));
    let (client, el) = AsyncClient::new(mo, 1024);
    let (tx, mut rx) = mpsc::channel(256);
    let mut subs = vec![topics.down(id.as_str())];
    if let Source::Topic(t) = &opts.source {
        subs.push(t.clone());
    }
    let meter_topic = match &opts.source {
        Source::Topic(t) => Some(t.clone()),
        _ => None,
    };
    let client_task = tokio::spawn(mqtt::run_client(el, client.clone(), subs, tx));

    // Readings from a command or a meter topic, averaged over each slot.
    let (read_tx, mut readings) = mpsc::channel::<f64>(1024);
    let mut child = None;
    if let Source::Command(cmd) = &opts.source {
        let mut c = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ServerError::invalid(format!("--command '{cmd}'"), e.to_string()))?;
        let out = c.stdout.take().expect("piped");
        let rtx = read_tx.clone();
        let dev = id.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match parse_reading(line.as_bytes()) {
                    Some(v) => {
                        if rtx.send(v).await.is_err() {
                            return;
                        }
                    }
                    None => tracing::warn!("{dev}: not a reading: {line:?}"),
                }
            }
        });
        child = Some(c);
    }
    drop(read_tx);

    let mut forecaster = Forecaster::new(
        opts.model.clone(),
        opts.horizon,
        opts.season,
        (opts.slot_ms / 1000).max(1) as i64,
    );
    let (trace, trace_start) = match &opts.source {
        Source::Trace { values_w, start } => {
            forecaster.warm_up(&values_w[..(*start).min(values_w.len())]);
            (values_w.clone(), *start)
        }
        _ => (Vec::new(), 0),
    };
    let has_meter = !matches!(opts.source, Source::None);
    let first_slot = slot_clock.slot_at(now);
    let anchor = opts.trace_anchor.unwrap_or(first_slot);
    let mut current = first_slot;
    let mut slot_sum = 0.0;
    let mut slot_n = 0u32;
    let mut last_reading: Option<f64> = None;
    let mut forecast_until: Option<Slot> = None;
    let mut jobs = opts.jobs.clone();
    jobs.sort_by_key(|j| j.at);
    let mut jobs = std::collections::VecDeque::from(jobs);
    let mut first_sent: std::collections::HashMap<RequestId, std::time::Instant> =
        Default::default();
    // Requests sent and not answered yet (an award, an offer or a refusal answers).
    let mut unanswered: std::collections::HashMap<RequestId, std::time::Instant> =
        Default::default();
    let mut reported_end: std::collections::HashSet<RequestId> = Default::default();
    let (mut sent, mut received, mut refused) = (0u64, 0u64, 0u64);
    let mut limit_now = 0i64;
    let mut next_timeout;
    let mut readings_open = true;
    let mut said_for: Option<Slot> = None;

    loop {
        // Jobs that are due.
        let now = opts.clock.now();
        let slot = slot_clock.slot_at(now);
        while jobs.front().is_some_and(|j| j.at <= slot) {
            let job = jobs.pop_front().expect("front exists");
            if let Some(r) = agent.handle(now, AgentInput::Need(job.need)) {
                first_sent.insert(r, std::time::Instant::now());
                unanswered.insert(r, std::time::Instant::now());
                emit(AgentEvent::Requested {
                    device: id.clone(),
                    request: r,
                });
            }
        }
        // Slot boundaries: measure, forecast, report.
        while current < slot {
            let measured_w = if !trace.is_empty() {
                let i = trace_start as i64 + i64::from(current) - i64::from(anchor);
                trace[i.rem_euclid(trace.len() as i64) as usize]
            } else if slot_n > 0 {
                slot_sum / f64::from(slot_n)
            } else {
                last_reading.unwrap_or(0.0)
            };
            slot_sum = 0.0;
            slot_n = 0;
            let drawn_mw = if has_meter {
                (measured_w.max(0.0) * 1000.0).round() as i64
            } else {
                limit_now
            };
            emit(AgentEvent::Slot {
                device: id.clone(),
                slot: current,
                drawn_mw,
                limit_mw: limit_now,
            });
            if has_meter {
                forecaster.observe(measured_w);
                let next = current + 1;
                // Ask for the next window of uncontrollable load two slots before the current
                // one ends: the answer is there in time, and the window (a day less four
                // slots by default) still fits in the coordinator's day ahead, so it is
                // booked whole.
                if forecast_until.is_none_or(|end| end <= next + 2) {
                    let from = forecast_until.unwrap_or(next).max(next);
                    let window = opts.forecast_window.max(1);
                    let fc = forecaster.forecast((from - next + window) as usize);
                    let profile = fc[(from - next) as usize..].to_vec();
                    let need = Need {
                        priority: opts.priority,
                        earliest_start: from,
                        deadline: from + window,
                        demand: Demand::PowerForecast { profile },
                        bid_per_mille: 1000,
                        accept_until: from + window,
                    };
                    if let Some(r) = agent.handle(now, AgentInput::Need(need)) {
                        first_sent.insert(r, std::time::Instant::now());
                        unanswered.insert(r, std::time::Instant::now());
                    }
                    forecast_until = Some(from + window);
                }
                // The telemetry forecast stays inside the windows already asked for, so the
                // coordinator's reservation never runs past them into the next request's.
                let end = forecast_until.unwrap_or(next);
                let h = (opts.horizon as u32).min(end.saturating_sub(next)) as usize;
                agent.handle(
                    now,
                    AgentInput::Measured {
                        slot: current,
                        measured_mw: drawn_mw,
                        forecast: forecaster.forecast(h),
                    },
                );
            }
            current += 1;
        }
        // What the load calls for in the slot now running, said once at its start.
        if let Some((from, calls)) = &opts.load_calls_mw
            && said_for != Some(slot)
        {
            said_for = Some(slot);
            if let Some(&power_mw) = slot.checked_sub(*from).and_then(|k| calls.get(k as usize)) {
                agent.handle(now, AgentInput::Wants { slot, power_mw });
            }
        }
        agent.handle_timeout(now);
        // Drain the machine.
        loop {
            match agent.poll_output() {
                Output::Send { msg, .. } => {
                    if let Body::TimeslotRequest(r) = &msg.body
                        && !first_sent.contains_key(&r.request)
                    {
                        first_sent.insert(r.request, std::time::Instant::now());
                        unanswered.insert(r.request, std::time::Instant::now());
                    }
                    match codec::seal(&msg, opts.encoding, &key) {
                        Ok(frame) => {
                            if client
                                .try_publish(topics.up(id.as_str()), QoS::AtLeastOnce, false, frame)
                                .is_ok()
                            {
                                sent += 1;
                            }
                        }
                        Err(e) => tracing::error!("{id}: cannot encode a message: {e}"),
                    }
                }
                Output::Actuate { limit_mw, .. } => {
                    limit_now = port.set_limit(limit_mw).unwrap_or(0);
                }
                Output::Event(_) | Output::Store { .. } => {}
                Output::Timeout(at) => {
                    next_timeout = at;
                    break;
                }
            }
        }
        if agent.last_seq() + 16 >= seq_reserved {
            seq_reserved = reserve_seq(opts.state_dir.as_ref(), &id, agent.last_seq())?;
            seq_reserved += SEQ_BLOCK;
        }
        for (r, state, progress) in agent.needs() {
            if let NeedState::Over(end) = state
                && reported_end.insert(r)
            {
                emit(AgentEvent::JobEnded {
                    device: id.clone(),
                    request: r,
                    end,
                    progress,
                });
            }
        }
        let next_slot = slot_clock.start_of(current + 1);
        let next_job = jobs
            .front()
            .map_or(next_slot, |j| slot_clock.start_of(j.at));
        let wake = next_timeout.min(next_slot).min(next_job);
        let wait = opts.clock.until(wake).max(Duration::from_micros(200));
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            Some(ev) = rx.recv() => {
                let now = opts.clock.now();
                match ev {
                    ClientEvent::Connected => emit(AgentEvent::Connected(id.clone())),
                    ClientEvent::Disconnected(_) => {}
                    ClientEvent::Message { topic, payload } => {
                        if meter_topic.as_deref() == Some(topic.as_str()) {
                            if let Some(v) = parse_reading(&payload) {
                                slot_sum += v;
                                slot_n += 1;
                                last_reading = Some(v);
                            }
                        } else {
                            match codec::open(&payload, &id, Some(&key)) {
                                Ok(env) => {
                                    received += 1;
                                    let answered = match &env.body {
                                        Body::Award(a) => Some(a.request),
                                        Body::Offer(o) => Some(o.request),
                                        Body::Reject(r) => Some(r.request),
                                        _ => None,
                                    };
                                    if let Some(t) = answered.and_then(|r| unanswered.remove(&r)) {
                                        emit(AgentEvent::Answered {
                                            device: id.clone(),
                                            latency_s: t.elapsed().as_secs_f64(),
                                        });
                                    }
                                    if let Body::Reject(r) = &env.body {
                                        emit(AgentEvent::Refused {
                                            device: id.clone(),
                                            request: r.request,
                                            reason: r.reason.clone(),
                                            waiting: r.waiting,
                                        });
                                    }
                                    if let Body::Award(a) = &env.body
                                        && let Some(t) = first_sent.remove(&a.request)
                                    {
                                        emit(AgentEvent::Awarded {
                                            device: id.clone(),
                                            request: a.request,
                                            latency_s: t.elapsed().as_secs_f64(),
                                        });
                                    }
                                    agent.handle(now, AgentInput::Message(env));
                                }
                                Err(e) => {
                                    refused += 1;
                                    tracing::warn!("{id}: refused a frame: {e}");
                                }
                            }
                        }
                    }
                }
            }
            Some(v) = readings.recv(), if readings_open => {
                slot_sum += v;
                slot_n += 1;
                last_reading = Some(v);
            }
            _ = tokio::time::sleep(wait) => {}
        }
        if readings.is_closed() && readings.is_empty() {
            readings_open = false;
        }
    }
    emit(AgentEvent::Traffic {
        device: id.clone(),
        sent,
        received,
        refused,
    });
    emit(AgentEvent::Stopped(id.clone()));
    let _ = client.try_disconnect();
    client_task.abort();
    if let Some(mut c) = child {
        let _ = c.kill().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_numbers_or_json() {
        assert_eq!(parse_reading(b" 1234.5\n"), Some(1234.5));
        assert_eq!(parse_reading(br#"{"power_w": 80}"#), Some(80.0));
        assert_eq!(parse_reading(br#"{"w": 3}"#), Some(3.0));
        assert_eq!(parse_reading(b"NaN"), None);
        assert_eq!(parse_reading(b"hello"), None);
    }

    #[test]
    fn sequence_numbers_are_reserved_in_blocks_and_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path().to_path_buf());
        let id = DeviceId::new("x").unwrap();
        assert_eq!(reserve_seq(d.as_ref(), &id, 0).unwrap(), 0);
        // A restart resumes above the reservation, whatever was used inside it.
        assert_eq!(reserve_seq(d.as_ref(), &id, 0).unwrap(), SEQ_BLOCK);
        assert_eq!(reserve_seq(d.as_ref(), &id, 5000).unwrap(), 5000);
        assert_eq!(reserve_seq(d.as_ref(), &id, 0).unwrap(), 5000 + SEQ_BLOCK);
    }
}
