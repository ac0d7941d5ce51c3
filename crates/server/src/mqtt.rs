//! MQTT: topics, the embedded broker, and a client loop that survives broker restarts.
//!
//! **Topics** (all QoS 1, never retained; payloads are signed frames, see
//! [`powerslot_protocol::codec`]):
//!
//! | topic | from → to | payload |
//! | --- | --- | --- |
//! | `powerslot/<site>/up/<device>` | device → coordinator | a frame from the device |
//! | `powerslot/<site>/down/<device>` | coordinator → device | a frame for the device |
//!
//! Each coordinator subscribes to its own site's `up/+` only, so any number of sites share
//! one external broker without seeing each other's traffic (and a frame posted under another
//! site fails its signature there anyway).
//!
//! **The embedded broker** is rumqttd, configured in code. It has no shutdown API: it runs on
//! threads of its own, started by [`EmbeddedBroker::start`], and ends when the process
//! exits (`powerslot serve` exits after flushing its ledger and closing HTTP; in-process
//! tests leave it to the end of the test binary, each on its own free port). Its login hook
//! accepts a device only with the password derived from its key ([`crate::keys`]), and the
//! coordinator with its own.
//!
//! **Clients** ([`run_client`]) reconnect with exponential backoff and subscribe again after
//! every `ConnAck`: rumqttc does not renew subscriptions on a new clean session.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use powerslot_protocol::codec::TAG_BYTES;
use powerslot_protocol::limits::MAX_MESSAGE_BYTES;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

use crate::error::{Result, ServerError};

/// The largest frame on the wire: a message, its format byte and its tag.
pub const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES + 1 + TAG_BYTES;

/// The topics of one site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    site: String,
}

impl Topics {
    /// The topics of `site` (a valid MQTT topic level: no `/`, `+`, `#`).
    pub fn new(site: &str) -> Result<Self> {
        if site.is_empty()
            || site.len() > 64
            || site.contains(['/', '+', '#', '\0'])
            || !site
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ServerError::invalid(
                "--site",
                format!("'{site}' is not a site name (1 to 64 letters, digits, - _ .)"),
            ));
        }
        Ok(Self { site: site.into() })
    }

    /// The site.
    pub fn site(&self) -> &str {
        &self.site
    }

    /// Where a device publishes.
    pub fn up(&self, device: &str) -> String {
        format!("powerslot/{}/up/{device}", self.site)
    }

    /// What the coordinator subscribes to.
    pub fn up_filter(&self) -> String {
        format!("powerslot/{}/up/+", self.site)
    }

    /// Where the coordinator publishes to a device (and what the device subscribes to).
    pub fn down(&self, device: &str) -> String {
        format!("powerslot/{}/down/{device}", self.site)
    }

    /// The device an `up` topic names, if it is one of this site's.
    pub fn device_of_up<'a>(&self, topic: &'a str) -> Option<&'a str> {
        let rest = topic.strip_prefix("powerslot/")?;
        let rest = rest.strip_prefix(self.site.as_str())?;
        let dev = rest.strip_prefix("/up/")?;
        (!dev.is_empty() && !dev.contains('/')).then_some(dev)
    }
}

/// A broker's address, from `mqtt://HOST:PORT` (or `tcp://`; the port defaults to 1883).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddr {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl BrokerAddr {
    /// Parses a broker URL.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |why: &str| ServerError::invalid("--broker", format!("'{url}': {why}"));
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| bad("expected mqtt://HOST:PORT (TLS brokers are not supported yet)"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
            ),
            None => (rest, 1883),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad("no host, or port 0"));
        }
        Ok(Self {
            host: host.into(),
            port,
        })
    }

    /// `mqtt://host:port`.
    pub fn url(&self) -> String {
        format!("mqtt://{}:{}", self.host, self.port)
    }
}

/// Who may log in to the embedded broker: user name → password.
pub type Logins = Arc<RwLock<HashMap<String, String>>>;

/// The in-process broker (see the module docs for how it ends).
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    _thread: JoinHandle<()>,
}

/// A port nobody listens on now, on `ip`.
pub fn free_port(ip: &str) -> Result<u16> {
    let l = TcpListener::bind((ip, 0)).map_err(|e| ServerError::Broker {
        addr: ip.into(),
        problem: format!("no free port: {e}"),
    })?;
    Ok(l.local_addr().map_err(|e| ServerError::io(ip, e))?.port())
}

impl EmbeddedBroker {
    /// Starts rumqttd on `listen` (port 0 picks a free one) and waits until it accepts
    /// connections. Only the users in `logins` get in.
    pub fn start(listen: SocketAddr, logins: Logins) -> Result<Self> {
        let mut listen = listen;
        if listen.port() == 0 {
            listen.set_port(free_port(&listen.ip().to_string())?);
        }
        // Fail early and clearly if the port is taken (rumqttd would only log it).
        drop(TcpListener::bind(listen).map_err(|e| ServerError::Broker {
            addr: listen.to_string(),
            problem: format!("cannot listen: {e}"),
        })?);
        let mut connections = rumqttd::ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: MAX_FRAME_BYTES + 1024,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        };
        connections.set_auth_handler(move |_client: String, user: String, pass: String| {
            let ok = logins
                .read()
                .map(|l| {
                    l.get(&user)
                        .is_some_and(|p| crate::keys::constant_time_eq(p, &pass))
                })
                .unwrap_or(false);
            async move { ok }
        });
        let server = rumqttd::ServerSettings {
            name: "powerslot".into(),
            listen,
            tls: None,
            next_connection_delay_ms: 0,
            connections,
        };
        // Devices' down topics are one filter each and carry little; the coordinator's up/+
        // filter carries every device's messages and gets a deeper log so that a burst
        // never overwrites what the coordinator has not read yet.
        let mut custom = HashMap::new();
        custom.insert(
            "powerslot/+/up/+".to_string(),
            rumqttd::SegmentConfig {
                max_segment_size: 4 << 20,
                max_segment_count: 8,
            },
        );
        let config = rumqttd::Config {
            id: 0,
            router: rumqttd::RouterConfig {
                max_connections: 20_000,
                max_outgoing_packet_count: 500,
                max_segment_size: 64 << 10,
                max_segment_count: 2,
                custom_segment: Some(custom),
                initialized_filters: None,
                shared_subscriptions_strategy: Default::default(),
            },
            v4: Some(HashMap::from([("1".to_string(), server)])),
            ..Default::default()
        };
        let thread = std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                let mut broker = rumqttd::Broker::new(config);
                if let Err(e) = broker.start() {
                    tracing::error!("embedded MQTT broker stopped: {e}");
                }
            })
            .map_err(|e| ServerError::Broker {
                addr: listen.to_string(),
                problem: format!("cannot start its thread: {e}"),
            })?;
        for _ in 0..200 {
            if TcpStream::connect_timeout(&listen, Duration::from_millis(100)).is_ok() {
                return Ok(Self {
                    addr: listen,
                    _thread: thread,
                });
            }
            if thread.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(ServerError::Broker {
            addr: listen.to_string(),
            problem: "the embedded broker did not start listening".into(),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its address as a client dials it.
    pub fn broker_addr(&self) -> BrokerAddr {
        BrokerAddr {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
        }
    }
}

/// Client options: keep-alive, frame-sized packets, a login.
pub fn options(broker: &BrokerAddr, client_id: &str, user: &str, password: &str) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    o.set_keep_alive(Duration::from_secs(10));
    o.set_credentials(user, password);
    o.set_clean_session(true);
    o.set_max_packet_size(MAX_FRAME_BYTES + 1024, MAX_FRAME_BYTES + 1024);
    o.set_inflight(200);
    o
}

/// Checks that the broker's host resolves (a clear error before any retrying starts).
pub fn resolve(broker: &BrokerAddr) -> Result<()> {
    (broker.host.as_str(), broker.port)
        .to_socket_addrs()
        .map(|_| ())
        .map_err(|e| ServerError::Broker {
            addr: broker.url(),
            problem: format!("cannot resolve: {e}"),
        })
}

/// What a client loop reports.
#[derive(Debug)]
pub enum ClientEvent {
    /// Connected (again); subscriptions have been renewed.
    Connected,
    /// The connection dropped; retrying after the backoff.
    Disconnected(String),
    /// A message arrived.
    Message {
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
    },
}

/// Drives an event loop until `events` is closed: renews `subscriptions` (QoS 1) after every
/// connection, forwards what arrives, and on errors waits 100 ms, doubling up to 5 s, reset
/// by a successful connection.
pub async fn run_client(
    mut el: EventLoop,
    client: AsyncClient,
    subscriptions: Vec<String>,
    events: mpsc::Sender<ClientEvent>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(100);
                for s in &subscriptions {
                    // The request queue is ours and drained by this very loop.
                    if client.try_subscribe(s.clone(), QoS::AtLeastOnce).is_err() {
                        tracing::warn!("could not queue the subscription to {s}");
                    }
                }
                if events.send(ClientEvent::Connected).await.is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let ev = ClientEvent::Message {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                };
                if events.send(ev).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if events.is_closed() {
                    return;
                }
                let _ = events.try_send(ClientEvent::Disconnected(e.to_string()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_belong_to_their_site() {
        let t = Topics::new("home").unwrap();
        assert_eq!(t.up("washer"), "powerslot/home/up/washer");
        assert_eq!(t.down("washer"), "powerslot/home/down/washer");
        assert_eq!(t.device_of_up("powerslot/home/up/washer"), Some("washer"));
        assert_eq!(t.device_of_up("powerslot/homes/up/washer"), None);
        assert_eq!(t.device_of_up("powerslot/home/down/washer"), None);
        assert_eq!(t.device_of_up("powerslot/home/up/a/b"), None);
        assert!(Topics::new("a/b").is_err() && Topics::new("").is_err());
    }

    #[test]
    fn broker_urls_parse_or_say_why_not() {
        assert_eq!(
            BrokerAddr::parse("mqtt://127.0.0.1:18830").unwrap(),
            BrokerAddr {
                host: "127.0.0.1".into(),
                port: 18830
            }
        );
        assert_eq!(BrokerAddr::parse("tcp://broker").unwrap().port, 1883);
        assert!(BrokerAddr::parse("http://x").is_err());
        assert!(BrokerAddr::parse("mqtt://x:notaport").is_err());
        assert!(BrokerAddr::parse("mqtt://:1883").is_err());
    }
}
