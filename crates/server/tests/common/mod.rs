//! A site in a temporary folder, its coordinator in this process (embedded broker and API on
//! free loopback ports), and agents to drive it, in compressed time.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use powerslot_protocol::circuit::CircuitSpec;
use powerslot_protocol::{DeviceId, Priority};
use powerslot_server::agent::AgentOptions;
use powerslot_server::clock::{Clock, unix_ms};
use powerslot_server::keys::parse_key;
use powerslot_server::service::{self, BrokerChoice, NewDevice, ServeOptions, SiteSetup};

/// One-minute slots, one per wall-clock second.
pub const SLOT_MS: u64 = 60_000;
pub const SPEED: f64 = 60.0;

pub struct TestSite {
    pub dir: tempfile::TempDir,
    pub opts: ServeOptions,
    pub devices: Vec<NewDevice>,
    pub clock: Clock,
}

impl TestSite {
    /// A site of `rating_w` with devices `ids` registered.
    pub fn new(site: &str, rating_w: i64, ids: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::compressed(unix_ms(), SPEED);
        let mut opts = ServeOptions::new(dir.path().join("data"), site);
        opts.setup = SiteSetup {
            slot_ms: Some(SLOT_MS),
            clock: Some(clock),
            circuits: Some(vec![CircuitSpec {
                name: "site".into(),
                parent: None,
                rating_mw: rating_w * 1000,
            }]),
        };
        opts.broker = BrokerChoice::Embedded(SocketAddr::from(([127, 0, 0, 1], 0)));
        opts.http = None;
        let (secret, mut ledger) = service::prepare(&opts).unwrap();
        let specs: Vec<service::DeviceSpec> = ids
            .iter()
            .map(|i| (DeviceId::new(*i).unwrap(), None, Priority::High, None))
            .collect();
        let devices = service::register_devices(&mut ledger, &secret, &specs).unwrap();
        Self {
            dir,
            opts,
            devices,
            clock,
        }
    }

    /// Options for an agent of device `id` against a running coordinator.
    pub fn agent(&self, running: &service::Running, id: &str) -> AgentOptions {
        let nd = self.devices.iter().find(|d| d.id == id).unwrap();
        let mut o = AgentOptions::new(
            running.topics.site(),
            running.broker.clone(),
            DeviceId::new(id).unwrap(),
            parse_key(&nd.key).unwrap(),
            SLOT_MS,
        );
        o.clock = self.clock;
        o.state_dir = Some(self.dir.path().join("agents"));
        o
    }
}
