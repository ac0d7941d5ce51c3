//! Reading instances from files: PSPLIB single-mode `.sm`, Patterson `.rcp`, and the
//! native JSON format for device problems (see [`native`]).
//!
//! Every error names the file, and for syntax errors the line, so a user can fix
//! the input; model errors (cycles, demands no slot can carry) name the task.

pub mod native;
pub mod patterson;
pub mod psplib;
pub mod written;

use std::path::{Path, PathBuf};

use crate::instance::{Instance, InstanceSpec, ModelError, Resource, ResourceUnit, Task, TaskId};
use crate::limits::{MAX_RESOURCES, MAX_TASKS, excerpt, strip_bom, thousands};
use crate::profile::CapacityProfile;

/// Why a file could not be read as an instance.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{}: {error}", .file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error (shown in the message, not chained, so it prints once).
        error: std::io::Error,
    },
    /// The file's extension names no known format.
    #[error("{}: unknown instance format (expected .sm, .rcp or .json)", .file.display())]
    UnknownFormat {
        /// The file.
        file: PathBuf,
    },
    /// The text does not follow the format.
    #[error("{}{}: {message}", .file.display(), fmt_line(*.line))]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file parses but describes an instance no planner could schedule.
    #[error("{}: {error}", .file.display())]
    Model {
        /// The file.
        file: PathBuf,
        /// What is wrong with the model.
        error: ModelError,
    },
}

/// `:LINE` for messages, or nothing when the problem is not tied to one line.
fn fmt_line(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

/// Reads an instance, choosing the format by extension (`.sm`, `.rcp`, `.json`).
pub fn read_instance(path: &Path) -> Result<Instance, ReadError> {
    let text = std::fs::read(path).map_err(|error| ReadError::Io {
        file: path.into(),
        error,
    })?;
    // PSPLIB solution files are Latin-1; instance files are ASCII. Map bytes 1:1 so
    // a stray non-UTF-8 byte becomes a syntax error with a line, not an I/O error.
    let text: String = match String::from_utf8(text) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    };
    // A byte order mark is accepted in every format (editors on Windows add one).
    let text = strip_bom(&text);
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let spec = match ext.as_str() {
        "sm" => psplib::parse(text, &name),
        "rcp" => patterson::parse(text, &name),
        "json" => native::parse(text, &name),
        _ => return Err(ReadError::UnknownFormat { file: path.into() }),
    }
    .map_err(|e| e.in_file(path))?;
    Instance::new(spec).map_err(|error| ReadError::Model {
        file: path.into(),
        error,
    })
}

/// A syntax or content error before the file name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line (0 when the problem is not tied to a line).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
    fn in_file(self, file: &Path) -> ReadError {
        ReadError::Syntax {
            file: file.into(),
            line: self.line,
            message: self.message,
        }
    }
}

/// A project as job-shop files describe it: numbered jobs with successor lists and
/// possibly zero-duration dummies (the PSPLIB supersource and supersink).
pub(crate) struct RawProject {
    pub(crate) capacities: Vec<i64>,
    /// (job number, duration, demands, successor job numbers, line of the job)
    pub(crate) jobs: Vec<RawJob>,
}

pub(crate) struct RawJob {
    pub(crate) number: u32,
    pub(crate) duration: u32,
    pub(crate) demand: Vec<i64>,
    pub(crate) successors: Vec<u32>,
    pub(crate) line: usize,
}

/// Most precedence pairs left after contracting zero-duration jobs: a dummy with
/// `a` predecessors and `b` successors becomes `a × b` pairs, so a small file could
/// otherwise ask for gigabytes.
pub const MAX_PRECEDENCES: usize = 10_000_000;

impl RawProject {
    /// Checks the counts a header announces before anything is allocated for them.
    pub(crate) fn check_counts(
        line: usize,
        jobs: usize,
        resources: usize,
    ) -> Result<(), ParseError> {
        if jobs > MAX_TASKS + 2 {
            return Err(ParseError::new(
                line,
                format!(
                    "the file announces {} jobs; at most {} are supported",
                    thousands(jobs as u64),
                    thousands(MAX_TASKS as u64)
                ),
            ));
        }
        if resources > MAX_RESOURCES {
            return Err(ParseError::new(
                line,
                format!(
                    "the file announces {resources} resources; at most {MAX_RESOURCES} are supported"
                ),
            ));
        }
        Ok(())
    }

    /// Converts to a spec, contracting zero-duration jobs (dummies and milestones):
    /// each predecessor of such a job becomes a predecessor of each of its successors.
    /// A cycle is found before contracting, so one through zero-duration jobs is
    /// named too.
    pub(crate) fn into_spec(self, name: &str) -> Result<InstanceSpec, ParseError> {
        let n = self.jobs.len();
        let mut index = std::collections::HashMap::with_capacity(n);
        for (i, j) in self.jobs.iter().enumerate() {
            if index.insert(j.number, i).is_some() {
                return Err(ParseError::new(
                    j.line,
                    format!("job {} appears twice", j.number),
                ));
            }
        }
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, j) in self.jobs.iter().enumerate() {
            for s in &j.successors {
                let &si = index.get(s).ok_or_else(|| {
                    ParseError::new(
                        j.line,
                        format!("job {} names successor {s}, which does not exist", j.number),
                    )
                })?;
                if si == i {
                    return Err(ParseError::new(
                        j.line,
                        format!("job {} names itself as a successor", j.number),
                    ));
                }
                preds[si].push(i);
                succs[i].push(si);
            }
        }
        let order = self.order(&preds, &succs)?;
        // Real predecessors of each job, looking through zero-duration jobs, in
        // topological order so every list it reads is complete.
        let is_dummy: Vec<bool> = self.jobs.iter().map(|j| j.duration == 0).collect();
        let mut real_preds: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pairs = 0usize;
        for &i in &order {
            let mut out = Vec::new();
            for &p in &preds[i] {
                if is_dummy[p] {
                    out.extend_from_slice(&real_preds[p]);
                } else {
                    out.push(p);
                }
            }
            out.sort_unstable();
            out.dedup();
            pairs += out.len();
            if pairs > MAX_PRECEDENCES {
                return Err(ParseError::new(
                    self.jobs[i].line,
                    format!(
                        "contracting the zero-duration jobs gives more than {} precedence pairs",
                        thousands(MAX_PRECEDENCES as u64)
                    ),
                ));
            }
            real_preds[i] = out;
        }
        let keep: Vec<usize> = (0..n).filter(|&i| !is_dummy[i]).collect();
        let mut new_index = vec![usize::MAX; n];
        for (k, &i) in keep.iter().enumerate() {
            new_index[i] = k;
        }
        let mut tasks = Vec::with_capacity(keep.len());
        for &i in &keep {
            let j = &self.jobs[i];
            tasks.push(Task {
                id: TaskId::Number(j.number),
                duration: j.duration,
                demand: j.demand.clone(),
                predecessors: real_preds[i].iter().map(|&x| new_index[x]).collect(),
                release: 0,
                deadline: None,
            });
        }
        let resources = self
            .capacities
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                Ok(Resource {
                    name: format!("R{}", k + 1),
                    unit: ResourceUnit::Units,
                    capacity: CapacityProfile::constant(c)
                        .map_err(|e| ParseError::new(0, format!("resource R{}: {e}", k + 1)))?,
                })
            })
            .collect::<Result<Vec<_>, ParseError>>()?;
        Ok(InstanceSpec {
            name: name.to_string(),
            resources,
            tasks,
            grid: None,
            power_curves: None,
        })
    }

    /// A topological order of all jobs, zero-duration ones included, or the cycle.
    fn order(&self, preds: &[Vec<usize>], succs: &[Vec<usize>]) -> Result<Vec<usize>, ParseError> {
        let n = preds.len();
        let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            order.push(i);
            for &s in &succs[i] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    ready.push(s);
                }
            }
        }
        if order.len() == n {
            return Ok(order);
        }
        // Walk predecessors among the jobs left until one repeats: that is a cycle.
        let left: Vec<bool> = indeg.iter().map(|&d| d > 0).collect();
        let mut pos = vec![usize::MAX; n];
        let mut path = Vec::new();
        let mut cur = (0..n).find(|&i| left[i]).unwrap_or(0);
        while pos[cur] == usize::MAX {
            pos[cur] = path.len();
            path.push(cur);
            match preds[cur].iter().find(|&&p| left[p]) {
                Some(&p) => cur = p,
                None => break,
            }
        }
        let mut cycle: Vec<usize> = path[pos[cur].min(path.len() - 1)..].to_vec();
        cycle.reverse();
        let mut names: Vec<String> = cycle
            .iter()
            .map(|&i| format!("job {}", self.jobs[i].number))
            .collect();
        names.push(names[0].clone());
        Err(ParseError::new(
            self.jobs[cycle[0]].line,
            format!("the precedences form a cycle: {}", names.join(" → ")),
        ))
    }
}

/// Whitespace-separated tokens with their 1-based line numbers.
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .flat_map(|(i, l)| l.split_whitespace().map(move |t| (i + 1, t)))
}

pub(crate) fn parse_num<T: std::str::FromStr>(
    line: usize,
    tok: &str,
    what: &str,
) -> Result<T, ParseError> {
    tok.parse().map_err(|_| {
        let digits = tok.strip_prefix('-').unwrap_or(tok);
        let message = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            format!("{what} {} is out of range", excerpt(tok, 30))
        } else {
            format!("expected {what}, found '{}'", excerpt(tok, 30))
        };
        ParseError::new(line, message)
    })
}
