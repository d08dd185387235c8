//! The notify channel's message: one small signed JSON datagram (or MQTT payload).
//!
//! ```text
//! {"v":1,"k":"poke","r":"<remote id>","b":"main","c":"<commit>","n":"laptop","ts":1700000000,"a":["192.168.1.5:11001"],"ver":"0.1.0"}
//! <HMAC-SHA256(key, "dotsync-notify-v1\n" + the line above), 64 hex digits>
//! ```
//!
//! `k` is `poke` (the branch `b` moved to `c`), `hello` (I am here, at `a`) or `pong` (the
//! answer to a hello). `r`, the remote id, is a hash of the repository key, never its URL: it
//! tells a receiver which key to check the MAC with and nothing else. A message grants nothing:
//! a poke only makes the receiver run its usual remote check.
//!
//! Everything here treats its input as hostile: sizes are bounded before parsing, the MAC is
//! checked in constant time before any field is believed, and no field is used unchecked.

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// No datagram or relay message is larger.
pub const MAX_MESSAGE: usize = 1200;
/// A message whose timestamp is further than this from our clock is refused (replays).
pub const MAX_SKEW_S: i64 = 300;
const MAC_CONTEXT: &[u8] = b"dotsync-notify-v1\n";
const ID_CONTEXT: &[u8] = b"dotsync-remote-id\n";

/// What a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Poke,
    Hello,
    Pong,
}

/// A message's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub v: u32,
    pub k: Kind,
    /// The remote id ([`remote_id`]).
    pub r: String,
    /// The branch that moved (pokes).
    #[serde(default)]
    pub b: String,
    /// The commit it moved to (pokes): a hint, never trusted beyond "maybe skip the check".
    #[serde(default)]
    pub c: String,
    /// The sender's machine name.
    pub n: String,
    /// Unix seconds when it was sent.
    pub ts: i64,
    /// Where the sender takes datagrams (`ip:port`).
    #[serde(default)]
    pub a: Vec<String>,
    /// The sender's dotsync version.
    #[serde(default)]
    pub ver: String,
}

/// The remote id of a repository key: 32 hex digits of SHA-256 over a fixed context and the
/// key. Published (MQTT topics, datagrams); it reveals neither the key nor the URL.
pub fn remote_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(ID_CONTEXT);
    h.update(key);
    let d = h.finalize();
    d.iter().take(16).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn mac(key: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; a 32-byte key cannot be refused.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// The signed bytes of `msg`.
pub fn encode(key: &[u8; 32], msg: &Message) -> Vec<u8> {
    // Serializing plain strings and numbers cannot fail.
    let body = serde_json::to_vec(msg).unwrap_or_default();
    let mut m = mac(key);
    m.update(MAC_CONTEXT);
    m.update(&body);
    let tag = m.finalize().into_bytes();
    let mut out = body;
    out.push(b'\n');
    for b in tag {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    out
}

/// A message as received, not yet verified: its fields and where its MAC is.
#[derive(Debug)]
pub struct Unverified<'a> {
    pub msg: Message,
    body: &'a [u8],
    tag: [u8; 32],
}

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("not a dotsync message")]
    Malformed,
    #[error("bad signature")]
    BadMac,
    #[error("timestamp too far from now")]
    Stale,
}

/// Splits and parses a message without trusting it. Bounded: larger inputs are refused unread.
pub fn parse(data: &[u8]) -> Result<Unverified<'_>, Reject> {
    if data.len() > MAX_MESSAGE {
        return Err(Reject::Malformed);
    }
    let nl = data
        .iter()
        .rposition(|&b| b == b'\n')
        .ok_or(Reject::Malformed)?;
    let (body, hex) = (&data[..nl], &data[nl + 1..]);
    if hex.len() != 64 {
        return Err(Reject::Malformed);
    }
    let mut tag = [0u8; 32];
    for (i, t) in tag.iter_mut().enumerate() {
        let pair = std::str::from_utf8(&hex[2 * i..2 * i + 2]).map_err(|_| Reject::Malformed)?;
        *t = u8::from_str_radix(pair, 16).map_err(|_| Reject::Malformed)?;
    }
    let msg: Message = serde_json::from_slice(body).map_err(|_| Reject::Malformed)?;
    let hex_ok = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_hexdigit());
    let bounded = msg.v == 1
        && msg.r.len() == 32
        && hex_ok(&msg.r, 32)
        && hex_ok(&msg.c, 64)
        && msg.b.len() <= 200
        && !msg.n.is_empty()
        && msg.n.len() <= 64
        && !msg.n.chars().any(char::is_control)
        && msg.a.len() <= dotsync_engine::MAX_ADDRS
        && msg.a.iter().all(|a| a.len() <= 64)
        && msg.ver.len() <= 32;
    if !bounded {
        return Err(Reject::Malformed);
    }
    Ok(Unverified { msg, body, tag })
}

impl Unverified<'_> {
    /// Checks the MAC with the key of the remote the message names (constant time) and the
    /// timestamp against `now`; only then are its fields worth anything.
    pub fn verify(self, key: &[u8; 32], now: i64) -> Result<Message, Reject> {
        let mut m = mac(key);
        m.update(MAC_CONTEXT);
        m.update(self.body);
        m.verify_slice(&self.tag).map_err(|_| Reject::BadMac)?;
        if (self.msg.ts - now).abs() > MAX_SKEW_S {
            return Err(Reject::Stale);
        }
        Ok(self.msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(key: &[u8; 32]) -> Message {
        Message {
            v: 1,
            k: Kind::Poke,
            r: remote_id(key),
            b: "main".into(),
            c: "a".repeat(40),
            n: "laptop".into(),
            ts: 1_000_000,
            a: vec!["127.0.0.1:4000".into()],
            ver: "0.1.0".into(),
        }
    }

    #[test]
    fn a_signed_message_round_trips_and_nothing_else_verifies() {
        let key = [7u8; 32];
        let m = msg(&key);
        let data = encode(&key, &m);
        assert!(data.len() < MAX_MESSAGE);
        assert_eq!(
            parse(&data).expect("parses").verify(&key, 1_000_000),
            Ok(m.clone())
        );
        // Another key, a changed byte, a stale or future timestamp.
        assert_eq!(
            parse(&data).expect("parses").verify(&[8u8; 32], 1_000_000),
            Err(Reject::BadMac)
        );
        let mut tampered = data.clone();
        let at = tampered
            .windows(6)
            .position(|w| w == b"laptop")
            .expect("name");
        tampered[at] = b'L';
        assert_eq!(
            parse(&tampered).expect("parses").verify(&key, 1_000_000),
            Err(Reject::BadMac)
        );
        assert_eq!(
            parse(&data)
                .expect("parses")
                .verify(&key, 1_000_000 + MAX_SKEW_S + 1),
            Err(Reject::Stale)
        );
        assert_eq!(
            parse(&data)
                .expect("parses")
                .verify(&key, 1_000_000 - MAX_SKEW_S - 1),
            Err(Reject::Stale)
        );
    }

    #[test]
    fn hostile_input_is_refused_before_it_is_believed() {
        let key = [7u8; 32];
        let good = encode(&key, &msg(&key));
        for bad in [
            &b""[..],
            b"\n",
            b"{}\n00",
            &[0xffu8; 100][..],
            &vec![b'a'; MAX_MESSAGE + 1][..],
            &good[..good.len() - 1],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let mut long_name = msg(&key);
        long_name.n = "x".repeat(65);
        assert!(parse(&encode(&key, &long_name)).is_err());
        let mut url_id = msg(&key);
        url_id.r = "/srv/dots.git".into();
        assert!(parse(&encode(&key, &url_id)).is_err());
    }

    #[test]
    fn the_remote_id_depends_on_the_key_only() {
        assert_eq!(remote_id(&[1; 32]), remote_id(&[1; 32]));
        assert_ne!(remote_id(&[1; 32]), remote_id(&[2; 32]));
        assert_eq!(remote_id(&[1; 32]).len(), 32);
    }
}
