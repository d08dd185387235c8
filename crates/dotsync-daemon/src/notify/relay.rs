//! The relay: an MQTT broker (mosquitto, or any hosted MQTT service) as the notify channel
//! across networks. Each remote has the topic `dotsync/<remote id>`; a machine subscribes to
//! the topics of its remotes and publishes there the same signed messages it sends as
//! datagrams. The broker learns remote ids and timing, nothing else: it can neither read the
//! key nor forge a message, and a message it replays costs the receiver one remote check.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, watch};

use super::wire::MAX_MESSAGE;

/// A relay address that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayUrlError {
    #[error(
        "{0:?} is not a relay address; use mqtt://HOST[:PORT] (or mqtt://USER:PASSWORD@HOST:PORT)"
    )]
    Invalid(String),
    #[error(
        "{0:?}: relays over TLS (mqtts://) are not supported yet; use mqtt:// on a trusted \
         network or through a tunnel (messages are signed either way)"
    )]
    Tls(String),
}

/// A parsed `mqtt://[user:password@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayUrl {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

impl RelayUrl {
    pub fn parse(s: &str) -> Result<Self, RelayUrlError> {
        let bad = || RelayUrlError::Invalid(s.to_owned());
        if s.starts_with("mqtts://") || s.starts_with("ssl://") {
            return Err(RelayUrlError::Tls(s.to_owned()));
        }
        let rest = s
            .strip_prefix("mqtt://")
            .or_else(|| s.strip_prefix("tcp://"))
            .ok_or_else(bad)?
            .trim_end_matches('/');
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => {
                let (u, p) = c.split_once(':').unwrap_or((c, ""));
                (Some((u.to_owned(), p.to_owned())), h)
            }
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => 1883,
                None => return Err(bad()),
            };
            (h.to_owned(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
                None => (hostport.to_owned(), 1883),
            }
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
        if !host_ok || port == 0 {
            return Err(bad());
        }
        Ok(Self {
            host,
            port,
            credentials: creds,
        })
    }

    /// The address without credentials, for logs and the API.
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("mqtt://[{}]:{}", self.host, self.port)
        } else {
            format!("mqtt://{}:{}", self.host, self.port)
        }
    }
}

/// What the relay reports to the notifier.
pub enum RelayEvent {
    /// (Re)connected: subscriptions are renewed; say hello again.
    Connected,
    /// A message on one of our topics.
    Message(Vec<u8>),
}

/// A running relay connection.
pub struct Relay {
    client: AsyncClient,
    connected: Arc<AtomicBool>,
    topics: Arc<Mutex<BTreeSet<String>>>,
    pub url: String,
}

pub fn topic(remote_id: &str) -> String {
    format!("dotsync/{remote_id}")
}

impl Relay {
    /// Connects (in the background, retrying with backoff) and reports to `events`.
    pub fn start(
        url: &RelayUrl,
        machine: &str,
        events: mpsc::UnboundedSender<RelayEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let short: String = dotsync_engine::machine_ref_name(machine)
            .chars()
            .take(8)
            .collect();
        let id = format!("ds-{short}-{}", dotsync_state::random_hex(4));
        let mut opts = MqttOptions::new(id, url.host.clone(), url.port);
        opts.set_keep_alive(Duration::from_secs(60))
            .set_clean_session(true)
            .set_max_packet_size(MAX_MESSAGE + 256, MAX_MESSAGE + 256);
        if let Some((u, p)) = &url.credentials {
            opts.set_credentials(u.clone(), p.clone());
        }
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let connected = Arc::new(AtomicBool::new(false));
        let topics: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let shown = url.display();
        let relay = Self {
            client: client.clone(),
            connected: connected.clone(),
            topics: topics.clone(),
            url: shown.clone(),
        };
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            let mut warned = false;
            loop {
                let ev = tokio::select! {
                    ev = eventloop.poll() => ev,
                    _ = shutdown.changed() => break,
                };
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected.store(true, Ordering::SeqCst);
                        backoff = Duration::from_millis(500);
                        warned = false;
                        tracing::info!("relay {shown} connected");
                        let all: Vec<String> = lock(&topics).iter().cloned().collect();
                        for t in all {
                            let _ = client.try_subscribe(t, QoS::AtMostOnce);
                        }
                        let _ = events.send(RelayEvent::Connected);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if p.payload.len() <= MAX_MESSAGE && p.topic.starts_with("dotsync/") {
                            let _ = events.send(RelayEvent::Message(p.payload.to_vec()));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        connected.store(false, Ordering::SeqCst);
                        if warned {
                            tracing::debug!("relay {shown}: {e}; retrying in {backoff:?}");
                        } else {
                            tracing::warn!("relay {shown}: {e}; retrying in {backoff:?}");
                            warned = true;
                        }
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            _ = shutdown.changed() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                }
            }
            let _ = client.try_disconnect();
        });
        (relay, task)
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Listens on a remote's topic from now on (and after every reconnection).
    pub fn subscribe(&self, remote_id: &str) {
        let t = topic(remote_id);
        if lock(&self.topics).insert(t.clone()) && self.connected() {
            let _ = self.client.try_subscribe(t, QoS::AtMostOnce);
        }
    }

    /// Publishes a signed message on a remote's topic; dropped if the relay is down (polling
    /// is the safety net).
    pub fn publish(&self, remote_id: &str, payload: Vec<u8>) -> bool {
        if !self.connected() {
            return false;
        }
        self.client
            .try_publish(topic(remote_id), QoS::AtMostOnce, false, payload)
            .is_ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_addresses_parse() {
        let u = RelayUrl::parse("mqtt://127.0.0.1:1884").expect("valid");
        assert_eq!(
            (u.host.as_str(), u.port, u.credentials),
            ("127.0.0.1", 1884, None)
        );
        let u = RelayUrl::parse("mqtt://me:s3cret@broker.example:8883/").expect("valid");
        assert_eq!(u.port, 8883);
        assert_eq!(u.credentials, Some(("me".into(), "s3cret".into())));
        assert_eq!(u.display(), "mqtt://broker.example:8883");
        assert_eq!(RelayUrl::parse("mqtt://host").expect("valid").port, 1883);
        assert_eq!(
            RelayUrl::parse("mqtt://[::1]:1999")
                .expect("valid")
                .display(),
            "mqtt://[::1]:1999"
        );
        assert!(matches!(
            RelayUrl::parse("mqtts://host"),
            Err(RelayUrlError::Tls(_))
        ));
        for bad in [
            "",
            "http://x",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://a b",
        ] {
            assert!(RelayUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
