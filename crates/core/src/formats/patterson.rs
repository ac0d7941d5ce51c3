//! Patterson `.rcp` files (the RCPLIB / RG30 format).
//!
//! Layout: `n m`, then `m` capacities, then per activity `duration d_1..d_m
//! #successors successors...` (successors 1-based; lists may wrap lines). The first
//! and last activities are usually zero-duration dummies and are contracted away.

use super::{ParseError, RawJob, RawProject, parse_num, tokens};
use crate::instance::InstanceSpec;

/// Parses the text of an `.rcp` file.
pub fn parse(text: &str, name: &str) -> Result<InstanceSpec, ParseError> {
    let mut tok = tokens(text);
    let mut next = |what: &str| -> Result<(usize, i64), ParseError> {
        let (line, t) = tok
            .next()
            .ok_or_else(|| ParseError::new(0, format!("file ends where {what} was expected")))?;
        Ok((line, parse_num(line, t, what)?))
    };
    let (l, n) = next("the number of activities")?;
    let (_, m) = next("the number of resources")?;
    if n <= 0 || m <= 0 {
        return Err(ParseError::new(
            l,
            "the number of activities and of resources must be positive",
        ));
    }
    RawProject::check_counts(l, usize::try_from(n).unwrap_or(usize::MAX), m as usize)?;
    // Every activity needs at least 2 + m numbers: a count beyond the file is refused
    // before anything is allocated for it.
    let available = text.split_whitespace().count();
    if (n as u128) * (2 + m as u128) > available as u128 {
        return Err(ParseError::new(
            l,
            format!(
                "the file announces {n} activities with {m} resources but holds only {available} numbers"
            ),
        ));
    }
    let capacities = (0..m)
        .map(|_| next("a resource capacity").map(|(_, c)| c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut jobs = Vec::with_capacity(n as usize);
    for number in 1..=n as u32 {
        let (line, duration) = next("an activity duration")?;
        if duration < 0 {
            return Err(ParseError::new(
                line,
                format!("activity {number} has a negative duration {duration}"),
            ));
        }
        let duration = u32::try_from(duration).map_err(|_| {
            ParseError::new(
                line,
                format!(
                    "activity {number} has duration {duration}, more than a slot number can hold"
                ),
            )
        })?;
        let mut demand = Vec::with_capacity(m as usize);
        for _ in 0..m {
            let (l, q) = next("a resource request")?;
            if q < 0 {
                return Err(ParseError::new(
                    l,
                    format!("activity {number} requests a negative amount {q}"),
                ));
            }
            demand.push(q);
        }
        let (l, count) = next("a successor count")?;
        if count < 0 {
            return Err(ParseError::new(
                l,
                format!("activity {number} has a negative successor count"),
            ));
        }
        if count > n {
            return Err(ParseError::new(
                l,
                format!(
                    "activity {number} announces {count} successors but there are only {n} activities"
                ),
            ));
        }
        let successors = (0..count)
            .map(|_| {
                let (l, s) = next("a successor number")?;
                u32::try_from(s).map_err(|_| {
                    ParseError::new(l, format!("successor {s} is not a valid activity number"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        jobs.push(RawJob {
            number,
            duration,
            demand,
            successors,
            line,
        });
    }
    RawProject { capacities, jobs }.into_spec(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::Instance;

    #[test]
    fn parses_with_wrapped_successors() {
        let text = "4 1\n3\n0 0 2 2\n3\n4 2 1 4\n5 1 1\n4\n0 0 0\n";
        let inst = Instance::new(parse(text, "p").unwrap()).unwrap();
        assert_eq!(inst.len(), 2);
        assert_eq!(inst.critical_path_length(), 5);
    }

    #[test]
    fn truncated_file_is_an_error() {
        let err = parse("4 1\n3\n0 0 2 2", "p").unwrap_err();
        assert!(
            err.message.contains("holds only 7 numbers"),
            "{}",
            err.message
        );
    }
}
