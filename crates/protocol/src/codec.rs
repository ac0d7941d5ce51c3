//! Wire encodings and message authentication.
//!
//! A message is encoded as JSON (readable, for logs and hand-written tests) or as compact
//! binary ([postcard], about a fifth of the size, for sensor nodes and PoE devices). A
//! **frame** is what travels: one format byte (`J` or `B`), the encoded [`Envelope`], and an
//! HMAC-SHA256 tag over the format byte and the payload — which holds the device id and the
//! sequence number — keyed with the device's own key. [`open`] checks the size before
//! decoding anything, then the tag with the key of the device the message claims to be, then
//! every value ([`Envelope::validate`]); a message claiming another device's id fails the tag.
//! Replays (an old sequence number) are caught by the machines' [`ReplayWindow`].

use alloc::vec::Vec;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ProtocolError;
use crate::limits::MAX_MESSAGE_BYTES;
use crate::msg::Envelope;

/// A device's secret key (32 random bytes).
pub type Key = [u8; 32];

/// Length of the authentication tag at the end of a frame.
pub const TAG_BYTES: usize = 32;

/// How the envelope inside a frame is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// JSON (serde_json).
    #[default]
    Json,
    /// Compact binary (postcard).
    Binary,
}

impl Encoding {
    fn byte(self) -> u8 {
        match self {
            Encoding::Json => b'J',
            Encoding::Binary => b'B',
        }
    }
}

/// Encodes an envelope without a frame.
pub fn encode(env: &Envelope, enc: Encoding) -> Result<Vec<u8>, ProtocolError> {
    let bytes = match enc {
        Encoding::Json => serde_json::to_vec(env).map_err(|_| ProtocolError::Encode)?,
        Encoding::Binary => postcard::to_allocvec(env).map_err(|_| ProtocolError::Encode)?,
    };
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge {
            bytes: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(bytes)
}

/// Decodes and validates an envelope without a frame; refuses more than
/// [`MAX_MESSAGE_BYTES`] before looking at the content.
pub fn decode(bytes: &[u8], enc: Encoding) -> Result<Envelope, ProtocolError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge {
            bytes: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let env: Envelope = match enc {
        Encoding::Json => serde_json::from_slice(bytes)
            .map_err(|e| ProtocolError::Malformed(alloc::format!("JSON: {e}")))?,
        Encoding::Binary => postcard::from_bytes(bytes)
            .map_err(|e| ProtocolError::Malformed(alloc::format!("binary: {e}")))?,
    };
    env.validate()?;
    Ok(env)
}

fn tag(key: &Key, format: u8, payload: &[u8]) -> [u8; TAG_BYTES] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&[format]);
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// Encodes, signs and frames an envelope with the device's key.
pub fn seal(env: &Envelope, enc: Encoding, key: &Key) -> Result<Vec<u8>, ProtocolError> {
    let payload = encode(env, enc)?;
    let mut frame = Vec::with_capacity(1 + payload.len() + TAG_BYTES);
    frame.push(enc.byte());
    frame.extend_from_slice(&payload);
    let t = tag(key, enc.byte(), &payload);
    frame.extend_from_slice(&t);
    Ok(frame)
}

/// Checks the size, decodes, finds the key of the device the message claims to come from
/// (`key_of` returns `None` for an unknown device), checks the tag in constant time, and
/// validates the values.
pub fn open(
    frame: &[u8],
    key_of: impl FnOnce(&crate::DeviceId) -> Option<Key>,
) -> Result<Envelope, ProtocolError> {
    if frame.len() > MAX_MESSAGE_BYTES + 1 + TAG_BYTES {
        return Err(ProtocolError::TooLarge {
            bytes: frame.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    if frame.len() < 1 + TAG_BYTES {
        return Err(ProtocolError::Malformed(alloc::format!(
            "a frame of {} bytes is shorter than its header and tag",
            frame.len()
        )));
    }
    let enc = match frame[0] {
        b'J' => Encoding::Json,
        b'B' => Encoding::Binary,
        other => {
            return Err(ProtocolError::Malformed(alloc::format!(
                "unknown frame format byte 0x{other:02x}"
            )));
        }
    };
    let (payload, given) = frame[1..].split_at(frame.len() - 1 - TAG_BYTES);
    let env = decode(payload, enc)?;
    let key =
        key_of(&env.device).ok_or_else(|| ProtocolError::UnknownDevice(env.device.clone()))?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(&[frame[0]]);
    mac.update(payload);
    mac.verify_slice(given)
        .map_err(|_| ProtocolError::BadSignature(env.device.clone()))?;
    Ok(env)
}

/// Which sequence numbers of a link were already seen: the highest, and a 64-wide window
/// below it (as IPsec does), so that reordered messages pass and replayed ones do not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayWindow {
    highest: u64,
    /// Bit `k` set: `highest − k` was seen.
    seen: u64,
}

impl ReplayWindow {
    /// A window that has seen everything up to `highest` (after a restart).
    pub fn starting_at(highest: u64) -> Self {
        Self {
            highest,
            seen: u64::MAX,
        }
    }

    /// The highest sequence number seen.
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Records `seq`; `false` if it was seen before or is too old to tell.
    pub fn accept(&mut self, seq: u64) -> bool {
        if seq > self.highest {
            let shift = seq - self.highest;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = seq;
            return true;
        }
        let back = self.highest - seq;
        if back >= 64 {
            return false;
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            return false;
        }
        self.seen |= bit;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceId;
    use crate::msg::{Body, Heartbeat};

    fn env() -> Envelope {
        Envelope::new(
            DeviceId::new("washer").unwrap(),
            7,
            Body::Heartbeat(Heartbeat::default()),
        )
    }

    #[test]
    fn frames_round_trip_and_refuse_forgery() {
        let key = [7u8; 32];
        for enc in [Encoding::Json, Encoding::Binary] {
            let f = seal(&env(), enc, &key).unwrap();
            assert_eq!(open(&f, |_| Some(key)).unwrap(), env());
            // Another device's key: the tag does not match.
            assert!(matches!(
                open(&f, |_| Some([8u8; 32])),
                Err(ProtocolError::BadSignature(_))
            ));
            // One flipped bit anywhere in the payload.
            let mut g = f.clone();
            g[3] ^= 1;
            assert!(open(&g, |_| Some(key)).is_err());
            assert!(matches!(
                open(&f, |_| None),
                Err(ProtocolError::UnknownDevice(_))
            ));
        }
        let big = alloc::vec![b'J'; MAX_MESSAGE_BYTES + 100];
        assert!(matches!(
            open(&big, |_| Some(key)),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_versions_are_refused() {
        let mut e = env();
        e.v = 9;
        let bytes = serde_json::to_vec(&e).unwrap();
        assert!(matches!(
            decode(&bytes, Encoding::Json),
            Err(ProtocolError::Version { got: 9, .. })
        ));
    }

    #[test]
    fn replay_window_accepts_reordering_and_refuses_replays() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(5));
        assert!(w.accept(3));
        assert!(!w.accept(3));
        assert!(!w.accept(5));
        assert!(w.accept(100));
        assert!(!w.accept(30)); // too old to tell: refused
        assert!(w.accept(99));
        let mut r = ReplayWindow::starting_at(10);
        assert!(!r.accept(10));
        assert!(r.accept(11));
    }
}
