//! The stated maximums of an instance, and short excerpts of bad input for messages.
//!
//! Power and resource amounts are integers so that "never above the budget" is an
//! exact check; these limits keep that check exact. With at most [`MAX_TASKS`] tasks
//! of at most [`MAX_AMOUNT`] each, the sum of every demand fits an `i64` with room to
//! spare (10⁵ × 10¹² = 10¹⁷ < 9.2 × 10¹⁸), so no usage, free capacity or lifted
//! capacity can wrap; energies (amount × slots) are summed in `i128`.
//!
//! Time is bounded by [`MAX_HORIZON`]: every release, deadline, duration and explicit
//! capacity value must lie within it, and the planners keep free capacity for at most
//! that many slots, so memory follows what an instance needs, never the largest number
//! written in it. An instance whose numbers pass these limits is either planned exactly
//! or refused with the limit it passes.

/// Largest demand or capacity of one resource in one slot: 10¹² (1 GW in milliwatts).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Most tasks (devices, jobs) in one instance.
pub const MAX_TASKS: usize = 100_000;

/// Most resources in one instance.
pub const MAX_RESOURCES: usize = 64;

/// Longest planning horizon in slots: 2²² = 4,194,304 (eight years of one-minute
/// slots). Releases, deadlines, the sum of all durations and explicit capacity
/// values must stay within it.
pub const MAX_HORIZON: u32 = 1 << 22;

/// Most slot × resource cells of free capacity a planner keeps (2²⁴: the whole
/// horizon for four resources, as in PSPLIB).
pub const MAX_CELLS: u64 = 1 << 24;

/// The longest horizon, in slots, the planners can keep for `resources` resources.
pub fn horizon_for(resources: usize) -> u32 {
    let by_cells = MAX_CELLS / resources.max(1) as u64;
    u32::try_from(by_cells.min(u64::from(MAX_HORIZON))).unwrap_or(MAX_HORIZON)
}

/// Formats a count with thousands separators (`4,194,304`), for messages.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// At most `max` characters of `text` for an error message, with the total length
/// when it was cut: a message never echoes a huge cell or token.
pub fn excerpt(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}… ({} characters)", thousands(count as u64))
}

/// Strips a leading UTF-8 byte order mark: every reader accepts one.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cannot_overflow() {
        assert!((MAX_TASKS as i128) * i128::from(MAX_AMOUNT) * 2 < i128::from(i64::MAX));
        assert_eq!(horizon_for(1), MAX_HORIZON);
        assert_eq!(horizon_for(4), MAX_HORIZON);
        assert_eq!(horizon_for(64), 1 << 18);
    }

    #[test]
    fn messages_stay_short() {
        assert_eq!(thousands(4_194_304), "4,194,304");
        assert_eq!(thousands(12), "12");
        assert_eq!(excerpt("abc", 5), "abc");
        let long = "x".repeat(2_000_000);
        let e = excerpt(&long, 10);
        assert!(
            e.starts_with("xxxxxxxxxx…") && e.contains("2,000,000"),
            "{e}"
        );
        assert_eq!(strip_bom("\u{feff}{}"), "{}");
    }
}
