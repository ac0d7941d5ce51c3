//! `powerslot serve`, `powerslot devices` and the options they share with `agent`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use powerslot_protocol::circuit::CircuitSpec;
use powerslot_protocol::{DeviceId, Priority};
use powerslot_server::clock::Clock;
use powerslot_server::ledger::Ledger;
use powerslot_server::mqtt::BrokerAddr;
use powerslot_server::service::{self, BrokerChoice, ServeOptions, SiteSetup, Tuning};

/// The site's time grid: slot length and (for tests and demos) compressed time.
#[derive(Args, Clone, Debug)]
pub(crate) struct ClockArgs {
    /// Slot length, seconds (fixed when the site's ledger is created; default 900).
    #[arg(long)]
    pub(crate) slot_seconds: Option<u64>,
    /// Run protocol time this many times faster than the wall clock (every process of a
    /// site must be given the same --speed and --clock-start).
    #[arg(long)]
    pub(crate) speed: Option<f64>,
    /// Unix time (ms) from which compressed time runs; needed with --speed.
    #[arg(long)]
    pub(crate) clock_start: Option<u64>,
}

impl ClockArgs {
    pub(crate) fn slot_ms(&self) -> Result<Option<u64>> {
        match self.slot_seconds {
            Some(0) => bail!("--slot-seconds must be at least 1"),
            Some(s) => Ok(Some(s * 1000)),
            None => Ok(None),
        }
    }

    pub(crate) fn clock(&self) -> Result<Option<Clock>> {
        match (self.speed, self.clock_start) {
            (None, None) => Ok(None),
            (Some(s), Some(start)) => {
                if !(s.is_finite() && s > 0.0) {
                    bail!("--speed must be a positive number, not {s}");
                }
                Ok(Some(Clock::compressed(start, s)))
            }
            (Some(_), None) => {
                bail!("--speed needs --clock-start (Unix ms shared by the site's processes)")
            }
            (None, Some(_)) => bail!("--clock-start needs --speed"),
        }
    }
}

/// `powerslot serve`.
#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Folder of the site's ledger (ledger.db), secret (site.key) and API token (api.token).
    #[arg(long, default_value = "powerslot-data")]
    data: PathBuf,
    /// The site's name: its MQTT topics are powerslot/<site>/...
    #[arg(long, default_value = "home")]
    site: String,
    /// The site's rating, kW, for a site of one circuit (when the ledger is created).
    #[arg(long, conflicts_with = "circuits")]
    rating_kw: Option<f64>,
    /// A JSON file with the circuit tree: [{"name", "parent", "rating_mw"}, ...], root first.
    #[arg(long)]
    circuits: Option<PathBuf>,
    #[command(flatten)]
    clock: ClockArgs,
    /// Address of the embedded MQTT broker.
    #[arg(long, default_value = "127.0.0.1:1883", conflicts_with = "broker")]
    mqtt: SocketAddr,
    /// Use an external broker instead of the embedded one: mqtt://HOST:PORT.
    #[arg(long)]
    broker: Option<String>,
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Register a device at start-up and print its key (once): ID, ID@CIRCUIT, ID:CLASS or
    /// ID@CIRCUIT:CLASS. Repeat for more.
    #[arg(long = "add-device", value_name = "ID")]
    add_device: Vec<String>,
    /// Write the keys of devices added with --add-device to DIR/<id>.key instead of printing them.
    #[arg(long, value_name = "DIR")]
    key_out: Option<PathBuf>,
    /// Cap the ledger at this many MiB (beyond it, nothing more is stored or granted).
    #[arg(long)]
    ledger_max_mb: Option<u64>,
    /// A batch of requests closes this many protocol ms after its first request.
    #[arg(long)]
    batch_ms: Option<u64>,
    /// Messages a device may send per (protocol) minute.
    #[arg(long)]
    rate_per_minute: Option<u32>,
}

/// `ID`, `ID@CIRCUIT`, `ID:CLASS`, `ID@CIRCUIT:CLASS`.
fn parse_device_spec(spec: &str) -> Result<(DeviceId, Option<String>, Priority)> {
    let (rest, class) = match spec.rsplit_once(':') {
        Some((r, c)) if Priority::parse(c).is_some() => (r, Priority::parse(c)),
        _ => (spec, None),
    };
    let (id, circuit) = match rest.split_once('@') {
        Some((i, c)) => (i, Some(c.to_string())),
        None => (rest, None),
    };
    let id = DeviceId::new(id).map_err(|e| anyhow::anyhow!("--add-device '{spec}': {e}"))?;
    Ok((id, circuit, class.unwrap_or_default()))
}

fn read_circuits(path: &PathBuf) -> Result<Vec<CircuitSpec>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected [{{\"name\": ..., \"parent\": ..., \"rating_mw\": ...}}, ...]",
            path.display()
        )
    })
}

pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=warn,rumqttc=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Waits for SIGINT or SIGTERM.
pub(crate) async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM can be handled");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn print_new_device(nd: &service::NewDevice, key_out: Option<&PathBuf>) -> Result<()> {
    match key_out {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
            let p = dir.join(format!("{}.key", nd.id));
            powerslot_server::keys::write_private(&p, &nd.key)?;
            println!(
                "device {}: key written to {} (fingerprint {}); MQTT user {} password {}",
                nd.id,
                p.display(),
                nd.key_fingerprint,
                nd.mqtt_user,
                nd.mqtt_password
            );
        }
        None => println!(
            "device {}: key {} (shown once: store it on the device); fingerprint {}; MQTT user {} password {}",
            nd.id, nd.key, nd.key_fingerprint, nd.mqtt_user, nd.mqtt_password
        ),
    }
    Ok(())
}

pub(crate) fn run(a: ServeArgs) -> Result<()> {
    let circuits = match (&a.circuits, a.rating_kw) {
        (Some(p), _) => Some(read_circuits(p)?),
        (None, Some(kw)) => {
            if !(kw.is_finite() && kw > 0.0) {
                bail!("--rating-kw must be a positive number");
            }
            Some(vec![CircuitSpec {
                name: "site".into(),
                parent: None,
                rating_mw: (kw * 1e6).round() as i64,
            }])
        }
        (None, None) => None,
    };
    let broker = match &a.broker {
        Some(url) => BrokerChoice::External(BrokerAddr::parse(url)?),
        None => BrokerChoice::Embedded(a.mqtt),
    };
    let devices: Vec<_> = a
        .add_device
        .iter()
        .map(|s| parse_device_spec(s))
        .collect::<Result<_>>()?;
    let mut opts = ServeOptions::new(&a.data, &a.site);
    opts.setup = SiteSetup {
        slot_ms: a.clock.slot_ms()?,
        clock: a.clock.clock()?,
        circuits,
    };
    opts.broker = broker;
    opts.http = Some(a.http);
    opts.max_ledger_bytes = a.ledger_max_mb.map(|m| m << 20);
    opts.tuning = Tuning {
        batch_window_ms: a.batch_ms,
        rate_per_minute: a.rate_per_minute,
        ..Tuning::default()
    };
    init_tracing();
    // Devices given on the command line are registered before the coordinator starts.
    if !devices.is_empty() {
        let (secret, mut ledger) = service::prepare(&opts)?;
        for (id, circuit, class) in &devices {
            let nd = service::register_device(
                &mut ledger,
                &secret,
                id,
                circuit.as_deref(),
                *class,
                None,
            )?;
            print_new_device(&nd, a.key_out.as_ref())?;
        }
    }
    let rt = runtime()?;
    rt.block_on(async move {
        let running = service::start(opts).await?;
        let http = running.http.expect("the API is on");
        println!(
            "powerslot serve: site {} on {} — dashboard http://{http}/, API http://{http}/api/health (token in {}), metrics http://{http}/metrics",
            running.topics.site(),
            running.broker.url(),
            a.data.join("api.token").display(),
        );
        tokio::select! {
            _ = stop_signal() => {
                eprintln!("stopping: committing the ledger, closing HTTP and MQTT");
            }
            _ = wait_finished(&running) => {}
        }
        running.shutdown().await?;
        Ok::<(), anyhow::Error>(())
    })?;
    // The embedded broker's threads end with the process.
    Ok(())
}

async fn wait_finished(r: &service::Running) {
    while !r.is_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `powerslot devices`.
#[derive(Subcommand)]
pub(crate) enum Devices {
    /// Register a device: prints its key once (or writes it to --key-out DIR/<id>.key).
    Add(AddArgs),
    /// List the registered devices (no keys: only their fingerprints).
    List(ListArgs),
}

/// `powerslot devices add`.
#[derive(Args)]
pub(crate) struct AddArgs {
    /// The site's data folder (as given to `serve`).
    #[arg(long, default_value = "powerslot-data")]
    data: PathBuf,
    /// The site's name.
    #[arg(long, default_value = "home")]
    site: String,
    /// Device ids.
    #[arg(required = true)]
    ids: Vec<String>,
    /// Circuit the devices hang from (default: the root).
    #[arg(long)]
    circuit: Option<String>,
    /// The highest class they may ask for.
    #[arg(long, default_value = "normal")]
    class: String,
    /// Write keys to DIR/<id>.key instead of printing them.
    #[arg(long, value_name = "DIR")]
    key_out: Option<PathBuf>,
}

/// `powerslot devices list`.
#[derive(Args)]
pub(crate) struct ListArgs {
    /// The site's data folder.
    #[arg(long, default_value = "powerslot-data")]
    data: PathBuf,
    /// One JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_devices(d: Devices) -> Result<()> {
    match d {
        Devices::Add(a) => {
            let class = Priority::parse(&a.class).with_context(|| {
                format!("--class '{}': one of low, normal, high, critical", a.class)
            })?;
            let (secret, mut ledger) = service::open_existing(&a.data, &a.site)?;
            for id in &a.ids {
                let id = DeviceId::new(id.as_str())
                    .map_err(|e| anyhow::anyhow!("device '{id}': {e}"))?;
                let nd = service::register_device(
                    &mut ledger,
                    &secret,
                    &id,
                    a.circuit.as_deref(),
                    class,
                    None,
                )?;
                print_new_device(&nd, a.key_out.as_ref())?;
            }
            Ok(())
        }
        Devices::List(a) => {
            let ledger = Ledger::open_read_only(&a.data.join("ledger.db"))?;
            let rows = ledger.devices()?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<24} {:<16} {:<9} {:>5} {:>4} fingerprint",
                    "id", "circuit", "class", "port", "gen"
                );
                for r in rows {
                    println!(
                        "{:<24} {:<16} {:<9} {:>5} {:>4} {}",
                        r.id,
                        r.circuit,
                        r.max_priority,
                        r.port,
                        r.key_generation,
                        r.key_fingerprint
                    );
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs_name_circuit_and_class() {
        let (id, c, p) = parse_device_spec("ev@garage:high").unwrap();
        assert_eq!(
            (id.as_str(), c.as_deref(), p),
            ("ev", Some("garage"), Priority::High)
        );
        let (id, c, p) = parse_device_spec("meter:1").unwrap_or_else(|_| {
            // ':' is allowed in ids; an unknown class stays part of the id.
            (DeviceId::new("meter:1").unwrap(), None, Priority::Normal)
        });
        assert_eq!((id.as_str(), c, p), ("meter:1", None, Priority::Normal));
        assert!(parse_device_spec("bad id").is_err());
    }
}
