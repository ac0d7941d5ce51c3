//! Wire encodings and message authentication.
//!
//! A message is encoded as JSON (readable, for logs and hand-written tests) or as compact
//! binary ([postcard], about a fifth of the size, for sensor nodes and PoE devices). A
//! **frame** is what travels: one format byte (`J` or `B`), the encoded [`Envelope`], and an
//! HMAC-SHA256 tag over the format byte and the payload — which holds the device id and the
//! sequence number — keyed with the device's own key. The transport names the link a frame
//! came in on (an MQTT topic per device); [`open`] checks the size, then the tag with that
//! device's key, and only then decodes the authenticated payload, checks every value
//! ([`Envelope::validate`]) and that the envelope names the same device. Nothing from an
//! unauthenticated sender is parsed, and an unknown device and a wrong key get the same
//! answer ([`ProtocolError::BadSignature`]) after the same work, so a prober learns nothing
//! about which device ids exist. Replays (an old sequence number) are caught by the
//! machines' [`ReplayWindow`].

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

/// Opens a frame that arrived on the link of device `claimed`, whose key is `key` (`None`
/// when no such device is registered): checks the size and the tag before decoding
/// anything, then decodes, validates the values and checks that the envelope is `claimed`'s.
pub fn open(
    frame: &[u8],
    claimed: &crate::DeviceId,
    key: Option<&Key>,
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
    // An unknown device costs the same HMAC as a known one, with a key nobody holds, and
    // fails the same way.
    let (key, known) = match key {
        Some(k) => (*k, true),
        None => ([0u8; 32], false),
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(&[frame[0]]);
    mac.update(payload);
    let verified = mac.verify_slice(given).is_ok();
    if !(verified && known) {
        return Err(ProtocolError::BadSignature(claimed.clone()));
    }
    let env = decode(payload, enc)?;
    if env.device != *claimed {
        return Err(ProtocolError::WrongLink {
            link: claimed.clone(),
            named: env.device,
        });
    }
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
        let washer = DeviceId::new("washer").unwrap();
        let dryer = DeviceId::new("dryer").unwrap();
        for enc in [Encoding::Json, Encoding::Binary] {
            let f = seal(&env(), enc, &key).unwrap();
            assert_eq!(open(&f, &washer, Some(&key)).unwrap(), env());
            // Another device's key: the tag does not match.
            assert!(matches!(
                open(&f, &washer, Some(&[8u8; 32])),
                Err(ProtocolError::BadSignature(_))
            ));
            // One flipped bit anywhere in the payload.
            let mut g = f.clone();
            g[3] ^= 1;
            assert!(matches!(
                open(&g, &washer, Some(&key)),
                Err(ProtocolError::BadSignature(_))
            ));
            // An unknown device fails exactly as a wrong key does.
            assert_eq!(
                open(&f, &washer, None).unwrap_err(),
                open(&f, &washer, Some(&[8u8; 32])).unwrap_err()
            );
            // Signed by the washer's key but sent on the dryer's link.
            assert!(matches!(
                open(&f, &dryer, Some(&key)),
                Err(ProtocolError::WrongLink { .. })
            ));
        }
        let big = alloc::vec![b'J'; MAX_MESSAGE_BYTES + 100];
        assert!(matches!(
            open(&big, &washer, Some(&key)),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_with_a_bad_tag_is_never_parsed() {
        // Not JSON at all, and unsigned: refused as unsigned, not as malformed JSON, because
        // the payload is never read before its tag checks out.
        let mut f = alloc::vec![b'J'];
        f.extend_from_slice(b"{{{{ not json");
        f.extend_from_slice(&[0u8; TAG_BYTES]);
        let washer = DeviceId::new("washer").unwrap();
        assert!(matches!(
            open(&f, &washer, Some(&[7u8; 32])),
            Err(ProtocolError::BadSignature(_))
        ));
    }

    #[test]
    fn sequence_numbers_past_2_pow_53_are_refused() {
        let mut e = env();
        e.seq = u64::MAX;
        let f = seal(&e, Encoding::Json, &[7u8; 32]).unwrap();
        let washer = DeviceId::new("washer").unwrap();
        assert!(matches!(
            open(&f, &washer, Some(&[7u8; 32])),
            Err(ProtocolError::Value { field: "seq", .. })
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
