//! # powerslot-server
//!
//! The running system: the coordinator of a site and its device agents, speaking MQTT,
//! keeping a SQLite ledger, answering HTTP. It drives the very state machines of
//! [`powerslot_protocol`] that the simulator drives; this crate only owns what they leave
//! out — sockets, timers, the database, keys.
//!
//! * [`service`] — `powerslot serve`: the coordinator's loop (frames in, machine, ledger
//!   commit, then publish), its embedded broker or an external one, the HTTP API ([`api`],
//!   with its OpenAPI document), [`metrics`] and the live [`dashboard`] page at `/`, which
//!   reads only the API (time series from [`series`], changes from `/api/events`).
//! * [`agent`] — `powerslot agent`: one task per device: MQTT, the device machine, a power
//!   port, a meter (trace, command or MQTT topic) and an online [`forecaster`].
//! * [`ledger`] — the SQLite ledger (WAL, versioned migrations): what is stored before it is
//!   announced, and what a restarted coordinator is rebuilt from.
//! * [`keys`] — per-device keys derived from a site secret, MQTT logins, the API token.
//! * [`mqtt`] — topics, the embedded rumqttd broker, a reconnecting client loop.
//! * [`clock`] — protocol time: Unix milliseconds, or compressed for demos and tests.
//! * [`probe`] — a minimal HTTP client for probing a local coordinator.
//!
//! ```
//! use powerslot_server::keys::SiteSecret;
//! use powerslot_server::mqtt::Topics;
//! use powerslot_protocol::DeviceId;
//!
//! // Every device key derives from the site secret; the ledger keeps only its generation.
//! let secret = SiteSecret::from_bytes("home", [7; 32]);
//! let washer = DeviceId::new("washer").unwrap();
//! let key = secret.device_key(&washer, 1);
//! assert_eq!(key, secret.device_key(&washer, 1));
//! // The washer publishes signed frames here, and hears from the coordinator there.
//! let t = Topics::new("home").unwrap();
//! assert_eq!(t.up("washer"), "powerslot/home/up/washer");
//! assert_eq!(t.down("washer"), "powerslot/home/down/washer");
//! ```

pub mod agent;
pub mod api;
pub mod clock;
pub mod dashboard;
pub mod error;
pub mod forecaster;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod mqtt;
pub mod probe;
pub mod series;
pub mod service;

pub use error::{Result, ServerError};
