//! Device keys and MQTT logins.
//!
//! **Choice: keys are derived, not stored.** The coordinator must know every device's key to
//! check its HMAC tags, so a one-way hash of the key cannot be all it keeps. Instead each
//! site has one random 32-byte **site secret** (a file of its own, `site.key`, mode 0600,
//! never in the database) and every device key is derived from it with HKDF-SHA256
//! (RFC 5869): salt `powerslot/v1/<site>`, info `device-key`, the device id and a
//! **generation** number. The ledger keeps only the generation and a fingerprint (the first
//! 8 bytes of SHA-256 of the key, to tell keys apart in listings). So a copy of the database
//! — a backup, a leaked file — holds no key at all; rotating a device's key is bumping its
//! generation; nothing needs a cipher or a second secret to protect the first. The key is
//! printed once, when the device is added; no command prints it again.
//!
//! The MQTT password of a device (on the embedded broker, whose login hook checks it) is
//! derived from its key, so a device needs one secret for both layers; the coordinator logs
//! in as `coordinator` with a password derived from the site secret.

use std::fs;
use std::io::Write;
use std::path::Path;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use powerslot_protocol::DeviceId;
use powerslot_protocol::codec::Key;
use sha2::{Digest, Sha256};

use crate::error::{Result, ServerError};

/// The MQTT user name of the coordinator.
pub const COORDINATOR_USER: &str = "coordinator";

/// A site's secret, from which every device key is derived.
#[derive(Clone)]
pub struct SiteSecret {
    site: String,
    secret: [u8; 32],
}

impl std::fmt::Debug for SiteSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SiteSecret({}, …)", self.site)
    }
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hexadecimal digits into a key.
pub fn parse_key(text: &str) -> Option<Key> {
    let t = text.trim();
    if t.len() != 64 || !t.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

impl SiteSecret {
    /// A new random secret.
    pub fn generate(site: &str) -> Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| ServerError::invalid("site secret", format!("no randomness: {e}")))?;
        Ok(Self {
            site: site.into(),
            secret,
        })
    }

    /// A secret from known bytes (tests, and sites restored from a backup).
    pub fn from_bytes(site: &str, secret: [u8; 32]) -> Self {
        Self {
            site: site.into(),
            secret,
        }
    }

    /// Reads `path`, or creates it with a new random secret (mode 0600) if it does not exist.
    pub fn load_or_create(path: &Path, site: &str) -> Result<Self> {
        match fs::read_to_string(path) {
            Ok(text) => {
                let secret = parse_key(&text).ok_or_else(|| {
                    ServerError::invalid(
                        path.display().to_string(),
                        "a site secret is 64 hexadecimal digits",
                    )
                })?;
                Ok(Self::from_bytes(site, secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let s = Self::generate(site)?;
                write_private(path, &hex(&s.secret))?;
                Ok(s)
            }
            Err(e) => Err(ServerError::io(path, e)),
        }
    }

    /// The site this secret belongs to.
    pub fn site(&self) -> &str {
        &self.site
    }

    fn derive(&self, info: &[&[u8]]) -> Key {
        let salt = format!("powerslot/v1/{}", self.site);
        let hk = Hkdf::<Sha256>::new(Some(salt.as_bytes()), &self.secret);
        let info: Vec<u8> = info.join(&0u8);
        let mut out = [0u8; 32];
        hk.expand(&info, &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// The key of a device in a generation.
    pub fn device_key(&self, device: &DeviceId, generation: u32) -> Key {
        self.derive(&[
            b"device-key",
            device.as_str().as_bytes(),
            &generation.to_le_bytes(),
        ])
    }

    /// The coordinator's MQTT password.
    pub fn coordinator_password(&self) -> String {
        mqtt_password(&self.derive(&[b"coordinator-mqtt"]))
    }

    /// The bearer token that authorises writes over HTTP.
    pub fn api_token(&self) -> String {
        hex(&self.derive(&[b"api-token"]))
    }
}

/// The MQTT password that goes with a device key.
pub fn mqtt_password(key: &Key) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"powerslot mqtt password");
    hex(&mac.finalize().into_bytes()[..16])
}

/// A key's fingerprint: the first 8 bytes of its SHA-256, in hex (safe to show and store).
pub fn fingerprint(key: &Key) -> String {
    hex(&Sha256::digest(key)[..8])
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| ServerError::io(path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| ServerError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_site_device_and_generation_and_are_stable() {
        let s = SiteSecret::from_bytes("home", [1; 32]);
        let d = DeviceId::new("washer").unwrap();
        let e = DeviceId::new("dryer").unwrap();
        assert_eq!(s.device_key(&d, 1), s.device_key(&d, 1));
        assert_ne!(s.device_key(&d, 1), s.device_key(&d, 2));
        assert_ne!(s.device_key(&d, 1), s.device_key(&e, 1));
        let other = SiteSecret::from_bytes("away", [1; 32]);
        assert_ne!(s.device_key(&d, 1), other.device_key(&d, 1));
        let k = s.device_key(&d, 1);
        assert_eq!(parse_key(&hex(&k)), Some(k));
        assert_eq!(fingerprint(&k).len(), 16);
        assert_eq!(mqtt_password(&k).len(), 32);
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd"));
        assert_eq!(parse_key("xyz"), None);
    }

    #[test]
    fn the_secret_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("site.key");
        let a = SiteSecret::load_or_create(&p, "home").unwrap();
        let b = SiteSecret::load_or_create(&p, "home").unwrap();
        let d = DeviceId::new("x").unwrap();
        assert_eq!(a.device_key(&d, 1), b.device_key(&d, 1));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&p, "not a key").unwrap();
        assert!(SiteSecret::load_or_create(&p, "home").is_err());
    }
}
