//! The protocol's stated maximums. Every message is checked against them before anything is
//! stored or allocated, so one number in a hostile message cannot drive memory or overflow
//! the exact power sums: with at most [`MAX_DEVICES`] devices holding at most
//! [`MAX_OPEN_REQUESTS_PER_DEVICE`] grants of at most [`MAX_POWER_MW`] each, any sum of grants
//! on a circuit stays at most 8 × 10^18 mW, inside `i64` (9.2 × 10^18).

/// Longest device or circuit name, bytes.
pub const MAX_ID_BYTES: usize = 64;
/// Largest power one device may ask for: 1 GW, in milliwatts.
pub const MAX_POWER_MW: i64 = 1_000_000_000_000;
/// Largest energy target: 10 GWh, in milliwatt-hours.
pub const MAX_ENERGY_MWH: i64 = 10_000_000_000_000;
/// Longest request window (a week of one-minute slots).
pub const MAX_WINDOW_SLOTS: u32 = 10_080;
/// Longest power profile in one request.
pub const MAX_PROFILE_SLOTS: usize = 4_096;
/// Largest encoded message accepted, bytes (checked before decoding).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Most devices one coordinator serves.
pub const MAX_DEVICES: usize = 1_000_000;
/// Most circuits in one tree.
pub const MAX_CIRCUITS: usize = 200_000;
/// Deepest circuit tree (site → … → port).
pub const MAX_DEPTH: usize = 16;
/// Longest allocation horizon, slots.
pub const MAX_HORIZON_SLOTS: u32 = 10_080;
/// Open requests one device may hold at once; more are refused, not queued.
pub const MAX_OPEN_REQUESTS_PER_DEVICE: usize = 8;
/// Largest sequence number (2^53: exact in every JSON reader, and far from wrapping).
pub const MAX_SEQUENCE: u64 = 1 << 53;
/// Largest bid multiplier (per mille): a device can at most bid 1000 × its class's value.
pub const MAX_BID_PER_MILLE: u32 = 1_000_000;
