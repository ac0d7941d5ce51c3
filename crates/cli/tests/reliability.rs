//! The coordinator is killed (SIGKILL) in the middle of a negotiation and restarted: no
//! award is lost, none is granted twice, the agents carry on, and no slot is over capacity.
//! Once with the embedded broker (which dies with the coordinator) and once with an
//! external Mosquitto (which keeps running and queues the devices' messages).
//!
//! Each test runs `powerslot serve` as a child process on free loopback ports, the agents in
//! the test process, in compressed time (one 60-second slot every 3 wall-clock seconds), and
//! removes its folder and processes when it ends.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use powerslot_protocol::agent::{Need, NeedEnd};
use powerslot_protocol::{Demand, DeviceId, PowerValue, Priority, SlotClock};
use powerslot_server::agent::{self, AgentEvent, AgentOptions, Job};
use powerslot_server::clock::{Clock, unix_ms};
use powerslot_server::keys::parse_key;
use powerslot_server::ledger::Ledger;
use powerslot_server::mqtt::{BrokerAddr, free_port};
use powerslot_server::probe;
use tokio::sync::{mpsc, watch};

const SLOT_S: u64 = 60;
const SPEED: f64 = 20.0;
const DEVICES: usize = 6;
const RATING_W: i64 = 7_500;

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Site {
    dir: tempfile::TempDir,
    mqtt: u16,
    http: SocketAddr,
    clock: Clock,
    external: Option<String>,
}

impl Site {
    fn new(external: Option<String>) -> Self {
        Site {
            dir: tempfile::tempdir().unwrap(),
            mqtt: free_port("127.0.0.1").unwrap(),
            http: SocketAddr::from(([127, 0, 0, 1], free_port("127.0.0.1").unwrap())),
            clock: Clock::compressed(unix_ms(), SPEED),
            external,
        }
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    fn serve(&self, first: bool) -> Proc {
        let mut c = Command::new(env!("CARGO_BIN_EXE_powerslot"));
        c.args(["serve", "--site", "rel", "--data"])
            .arg(self.dir.path().join("data"))
            .args(["--http", &self.http.to_string()])
            .args(["--slot-seconds", &SLOT_S.to_string()])
            .args(["--speed", &SPEED.to_string()])
            .args(["--clock-start", &self.clock.start_unix_ms().to_string()])
            .args(["--rating-kw", &(RATING_W as f64 / 1000.0).to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        match &self.external {
            Some(url) => c.args(["--broker", url]),
            None => c.args(["--mqtt", &format!("127.0.0.1:{}", self.mqtt)]),
        };
        if first {
            for i in 0..DEVICES {
                c.args(["--add-device", &format!("d{i}")]);
            }
            c.arg("--key-out").arg(self.keys());
        }
        let mut child = Proc(c.spawn().expect("powerslot serve starts"));
        for _ in 0..200 {
            if probe::get(self.http, "/api/health").is_ok() {
                return child;
            }
            if let Some(st) = child.0.try_wait().unwrap() {
                panic!("powerslot serve exited during start-up: {st}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the coordinator's API did not come up");
    }

    fn broker(&self) -> BrokerAddr {
        match &self.external {
            Some(url) => BrokerAddr::parse(url).unwrap(),
            None => BrokerAddr {
                host: "127.0.0.1".into(),
                port: self.mqtt,
            },
        }
    }
}

/// Three jobs per device, staggered so that requests keep arriving (and waiting: 15 kW of
/// demand may arrive at once on a 7.5 kW site) throughout the run.
fn jobs(i: usize, first: u32) -> Vec<Job> {
    (0..3u32)
        .map(|k| {
            let at = first + i as u32 / 2 + 5 * k;
            Job {
                at,
                need: Need {
                    priority: Priority::Normal,
                    earliest_start: at + 1,
                    deadline: at + 10,
                    demand: Demand::PowerProfile {
                        profile: vec![PowerValue::exact(2_500_000); 2],
                        interruptible: false,
                        min_on_slots: 0,
                        min_off_slots: 0,
                    },
                    bid_per_mille: 1000,
                    accept_until: at + 10,
                },
            }
        })
        .collect()
}

#[derive(Default)]
struct Seen {
    /// Awards the devices received, by (device, request).
    awards: HashSet<(String, u64)>,
    ends: HashMap<(String, u64), NeedEnd>,
    requested: HashSet<(String, u64)>,
    /// slot → device → limit.
    limits: BTreeMap<u32, HashMap<String, i64>>,
    connects: HashMap<String, usize>,
}

fn run_flow(site: Site) {
    let mut coord = site.serve(true);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let grid = SlotClock::new(powerslot_protocol::Instant(0), SLOT_S * 1000);
    let first = grid.slot_at(site.clock.now()) + 2;
    let last_deadline = first + DEVICES as u32 / 2 + 10 + 10;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let state = site.dir.path().join("agents");
    let mut tasks = Vec::new();
    for i in 0..DEVICES {
        let id = DeviceId::new(format!("d{i}")).unwrap();
        let key_text = std::fs::read_to_string(site.keys().join(format!("d{i}.key"))).unwrap();
        let key = parse_key(&key_text).unwrap();
        let mut o = AgentOptions::new("rel", site.broker(), id, key, SLOT_S * 1000);
        o.clock = site.clock;
        o.jobs = jobs(i, first);
        o.state_dir = Some(state.clone());
        tasks.push(rt.spawn(agent::run(o, stop_rx.clone(), Some(ev_tx.clone()))));
    }
    drop(ev_tx);

    let mut seen = Seen::default();
    let mut killed = false;
    let mut restarted_at_awards = 0;
    let end_at = grid.start_of(last_deadline + 2);
    rt.block_on(async {
        loop {
            let now = site.clock.now();
            if now >= end_at {
                let _ = stop_tx.send(true);
            }
            let ev = tokio::time::timeout(Duration::from_millis(200), ev_rx.recv()).await;
            let ev = match ev {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(_) => continue,
            };
            match ev {
                AgentEvent::Connected(d) => *seen.connects.entry(d.to_string()).or_default() += 1,
                AgentEvent::Requested { device, request } => {
                    seen.requested.insert((device.to_string(), request));
                }
                AgentEvent::Awarded {
                    device, request, ..
                } => {
                    seen.awards.insert((device.to_string(), request));
                    let total = seen.awards.len();
                    // Kill in the middle of the negotiation: some awards made, more requests
                    // on their way and waiting.
                    if !killed && total >= 4 {
                        killed = true;
                        restarted_at_awards = total;
                        let pid = coord.0.id().to_string();
                        let st = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
                        assert!(st.success());
                        let _ = coord.0.wait();
                        coord = site.serve(false);
                    }
                }
                AgentEvent::Slot {
                    device,
                    slot,
                    limit_mw,
                    ..
                } => {
                    seen.limits
                        .entry(slot)
                        .or_default()
                        .insert(device.to_string(), limit_mw);
                }
                AgentEvent::JobEnded {
                    device,
                    request,
                    end,
                    ..
                } => {
                    seen.ends.insert((device.to_string(), request), end);
                }
                _ => {}
            }
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    assert!(killed, "the run never reached the kill point");

    // Graceful stop, so the ledger can be read.
    let pid = coord.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let _ = coord.0.wait();
    let ledger = Ledger::open_read_only(&site.dir.path().join("data").join("ledger.db")).unwrap();
    let versions = ledger.award_versions().unwrap();

    // No award lost: every award a device received is in the ledger.
    let stored: HashSet<(String, u64)> = versions
        .iter()
        .map(|(d, r, _, _)| (d.clone(), *r))
        .collect();
    for k in &seen.awards {
        assert!(
            stored.contains(k),
            "award {k:?} was announced but never stored"
        );
    }
    // None granted twice: one first version per request across both runs of the coordinator.
    let mut firsts: HashMap<(String, u64), usize> = HashMap::new();
    for (d, r, v, _) in &versions {
        if *v == 1 {
            *firsts.entry((d.clone(), *r)).or_default() += 1;
        }
    }
    for (k, n) in &firsts {
        assert_eq!(*n, 1, "request {k:?} was granted {n} times");
    }
    let epochs: HashSet<u32> = versions.iter().map(|v| v.3).collect();
    assert!(epochs.len() >= 2, "awards from both runs: {epochs:?}");
    // The agents carried on and every job was served. (With an external broker an agent's
    // own connection survives the coordinator's death, so it need not reconnect.)
    for i in 0..DEVICES {
        let d = format!("d{i}");
        assert!(
            seen.connects.get(&d).copied().unwrap_or(0) >= 1,
            "{d} never connected"
        );
    }
    let jobs: Vec<_> = seen.requested.iter().collect();
    assert_eq!(jobs.len(), DEVICES * 3, "every job asked");
    for k in &jobs {
        assert_eq!(
            seen.ends.get(*k),
            Some(&NeedEnd::Served),
            "job {k:?} was not served (restart after {restarted_at_awards} awards)"
        );
    }
    // Never over capacity, whatever the coordinator went through.
    for (slot, per_dev) in &seen.limits {
        let total: i64 = per_dev.values().sum();
        assert!(
            total <= RATING_W * 1000,
            "slot {slot}: devices were allowed {total} mW on a {RATING_W} W site"
        );
    }
}

#[test]
fn sigkill_mid_negotiation_with_the_embedded_broker() {
    run_flow(Site::new(None));
}

fn mosquitto() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn start_mosquitto(bin: &Path, dir: &Path) -> (Proc, u16) {
    let port = free_port("127.0.0.1").unwrap();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\nlog_dest none\n"
        ),
    )
    .unwrap();
    let child = Proc(
        Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("mosquitto did not listen on {port}");
}

#[test]
fn sigkill_mid_negotiation_with_an_external_mosquitto() {
    let Some(bin) = mosquitto() else {
        // CI installs it (.ci/run); elsewhere say loudly that this did not run.
        assert!(
            std::env::var("CI").is_err(),
            "mosquitto is not installed, and CI must run this test"
        );
        eprintln!("SKIPPED: mosquitto is not installed (apt-get install -y mosquitto)");
        return;
    };
    let broker_dir = tempfile::tempdir().unwrap();
    let (_mosquitto, port) = start_mosquitto(&bin, broker_dir.path());
    run_flow(Site::new(Some(format!("mqtt://127.0.0.1:{port}"))));
}
