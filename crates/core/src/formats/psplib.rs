//! PSPLIB single-mode `.sm` files (Kolisch & Sprecher 1996).
//!
//! Job 1 and job n+2 are the dummy source and sink; like every zero-duration job
//! they are contracted away, so tasks keep their job numbers as ids.

use super::{ParseError, RawJob, RawProject, parse_num};
use crate::instance::InstanceSpec;

/// Parses the text of a `.sm` file.
pub fn parse(text: &str, name: &str) -> Result<InstanceSpec, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let find = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.trim_start().starts_with(prefix))
    };
    let jobs_line = find("jobs (incl. supersource/sink )").ok_or_else(|| {
        ParseError::new(
            1,
            "not a PSPLIB .sm file: no 'jobs (incl. supersource/sink )' line",
        )
    })?;
    let n: usize = parse_num(
        jobs_line + 1,
        after_colon(lines[jobs_line]),
        "the number of jobs",
    )?;
    let renewable_line = find("- renewable")
        .ok_or_else(|| ParseError::new(jobs_line + 1, "no '- renewable' resource line"))?;
    let m: usize = parse_num(
        renewable_line + 1,
        after_colon(lines[renewable_line])
            .split_whitespace()
            .next()
            .unwrap_or(""),
        "the number of renewable resources",
    )?;
    RawProject::check_counts(jobs_line + 1, n, m)?;
    if n > lines.len() {
        return Err(ParseError::new(
            jobs_line + 1,
            format!(
                "the file announces {n} jobs but has only {} lines",
                lines.len()
            ),
        ));
    }
    if let Some(l) = find("- nonrenewable") {
        let k: usize = parse_num(
            l + 1,
            after_colon(lines[l])
                .split_whitespace()
                .next()
                .unwrap_or(""),
            "a count",
        )?;
        if k > 0 {
            return Err(ParseError::new(
                l + 1,
                "non-renewable resources are not supported (single-mode RCPSP only)",
            ));
        }
    }

    let prec = find("PRECEDENCE RELATIONS:")
        .ok_or_else(|| ParseError::new(0, "no 'PRECEDENCE RELATIONS:' section"))?;
    let mut jobs = Vec::with_capacity(n);
    for i in 0..n {
        let ln = prec + 2 + i; // 0-based index; the section has one header line
        let line = lines
            .get(ln)
            .ok_or_else(|| ParseError::new(ln + 1, "file ends inside PRECEDENCE RELATIONS"))?;
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 3 {
            return Err(ParseError::new(
                ln + 1,
                "expected 'jobnr #modes #successors successors...'",
            ));
        }
        let number: u32 = parse_num(ln + 1, t[0], "a job number")?;
        let modes: u32 = parse_num(ln + 1, t[1], "a mode count")?;
        if modes != 1 {
            return Err(ParseError::new(
                ln + 1,
                format!("job {number} has {modes} modes; only single-mode files are supported"),
            ));
        }
        let count: usize = parse_num(ln + 1, t[2], "a successor count")?;
        if t.len() != count.saturating_add(3) {
            return Err(ParseError::new(
                ln + 1,
                format!(
                    "job {number} announces {count} successors but lists {}",
                    t.len() - 3
                ),
            ));
        }
        let successors = t[3..]
            .iter()
            .map(|s| parse_num(ln + 1, s, "a successor job number"))
            .collect::<Result<_, _>>()?;
        jobs.push(RawJob {
            number,
            duration: 0,
            demand: Vec::new(),
            successors,
            line: ln + 1,
        });
    }

    // Rows are looked up by job number; a linear search per row would be quadratic.
    let by_number: std::collections::HashMap<u32, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.number, i))
        .collect();
    let req = find("REQUESTS/DURATIONS:")
        .ok_or_else(|| ParseError::new(0, "no 'REQUESTS/DURATIONS:' section"))?;
    for i in 0..n {
        let ln = req + 3 + i; // header line and dashed line
        let line = lines
            .get(ln)
            .ok_or_else(|| ParseError::new(ln + 1, "file ends inside REQUESTS/DURATIONS"))?;
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() != 3 + m {
            return Err(ParseError::new(
                ln + 1,
                format!("expected 'jobnr mode duration' and {m} requests"),
            ));
        }
        let number: u32 = parse_num(ln + 1, t[0], "a job number")?;
        let job = by_number
            .get(&number)
            .and_then(|&i| jobs.get_mut(i))
            .ok_or_else(|| {
                ParseError::new(
                    ln + 1,
                    format!("job {number} has requests but no precedence row"),
                )
            })?;
        job.duration = parse_num(ln + 1, t[2], "a duration")?;
        job.demand = t[3..]
            .iter()
            .map(|s| parse_num(ln + 1, s, "a resource request"))
            .collect::<Result<_, _>>()?;
        if let Some(&q) = job.demand.iter().find(|&&q| q < 0) {
            return Err(ParseError::new(
                ln + 1,
                format!("job {number} requests a negative amount {q}"),
            ));
        }
    }
    if let Some(j) = jobs.iter().find(|j| j.demand.is_empty()) {
        return Err(ParseError::new(
            j.line,
            format!("job {} has no REQUESTS/DURATIONS row", j.number),
        ));
    }

    let avail = find("RESOURCEAVAILABILITIES:")
        .ok_or_else(|| ParseError::new(0, "no 'RESOURCEAVAILABILITIES:' section"))?;
    let ln = avail + 2;
    let line = lines
        .get(ln)
        .ok_or_else(|| ParseError::new(ln + 1, "file ends before the resource availabilities"))?;
    let capacities: Vec<i64> = line
        .split_whitespace()
        .map(|s| parse_num(ln + 1, s, "a resource capacity"))
        .collect::<Result<_, _>>()?;
    if capacities.len() != m {
        return Err(ParseError::new(
            ln + 1,
            format!("expected {m} capacities, found {}", capacities.len()),
        ));
    }
    RawProject { capacities, jobs }.into_spec(name)
}

/// The `MPM-Time` (critical path length) stated in the PROJECT INFORMATION row, if present.
pub fn stated_critical_path(text: &str) -> Option<u32> {
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("PROJECT INFORMATION:"))?;
    lines.get(i + 2)?.split_whitespace().nth(5)?.parse().ok()
}

fn after_colon(line: &str) -> &str {
    line.split_once(':').map(|(_, r)| r.trim()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{Instance, TaskId};

    const SMALL: &str = "\
jobs (incl. supersource/sink ):  4
RESOURCES
  - renewable                 :  1   R
  - nonrenewable              :  0   N
PROJECT INFORMATION:
pronr.  #jobs rel.date duedate tardcost  MPM-Time
    1      2      0       5       1       5
PRECEDENCE RELATIONS:
jobnr.    #modes  #successors   successors
   1        1          2           2   3
   2        1          1           4
   3        1          1           4
   4        1          0
REQUESTS/DURATIONS:
jobnr. mode duration  R 1
------------------------------------------------------------------------
  1      1     0       0
  2      1     3       2
  3      1     5       1
  4      1     0       0
RESOURCEAVAILABILITIES:
  R 1
    3
";

    #[test]
    fn parses_and_drops_dummies() {
        let inst = Instance::new(parse(SMALL, "small").unwrap()).unwrap();
        assert_eq!(inst.len(), 2);
        assert_eq!(inst.tasks()[0].id, TaskId::Number(2));
        assert_eq!(inst.critical_path_length(), 5);
        assert_eq!(stated_critical_path(SMALL), Some(5));
    }

    #[test]
    fn bad_number_names_the_line() {
        let bad = SMALL.replace("  3      1     5       1", "  3      1     five    1");
        let err = parse(&bad, "x").unwrap_err();
        assert_eq!(err.line, 19);
        assert!(err.message.contains("'five'"), "{}", err.message);
    }
}
