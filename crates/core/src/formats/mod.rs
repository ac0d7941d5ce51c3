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
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let spec = match ext.as_str() {
        "sm" => psplib::parse(&text, &name),
        "rcp" => patterson::parse(&text, &name),
        "json" => native::parse(&text, &name),
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

impl RawProject {
    /// Converts to a spec, contracting zero-duration jobs (dummies and milestones):
    /// each predecessor of such a job becomes a predecessor of each of its successors.
    pub(crate) fn into_spec(self, name: &str) -> Result<InstanceSpec, ParseError> {
        let index: std::collections::HashMap<u32, usize> = self
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.number, i))
            .collect();
        let n = self.jobs.len();
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
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
            }
        }
        // Real predecessors of each job, looking through zero-duration jobs.
        let is_dummy: Vec<bool> = self.jobs.iter().map(|j| j.duration == 0).collect();
        let mut real_preds: Vec<Option<Vec<usize>>> = vec![None; n];
        fn resolve(
            i: usize,
            preds: &[Vec<usize>],
            is_dummy: &[bool],
            memo: &mut [Option<Vec<usize>>],
            depth: usize,
        ) -> Vec<usize> {
            if let Some(v) = &memo[i] {
                return v.clone();
            }
            let mut out = Vec::new();
            if depth <= preds.len() {
                for &p in &preds[i] {
                    if is_dummy[p] {
                        out.extend(resolve(p, preds, is_dummy, memo, depth + 1));
                    } else {
                        out.push(p);
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            memo[i] = Some(out.clone());
            out
        }
        let keep: Vec<usize> = (0..n).filter(|&i| !is_dummy[i]).collect();
        let mut new_index = vec![usize::MAX; n];
        for (k, &i) in keep.iter().enumerate() {
            new_index[i] = k;
        }
        let mut tasks = Vec::with_capacity(keep.len());
        for &i in &keep {
            let j = &self.jobs[i];
            let p = resolve(i, &preds, &is_dummy, &mut real_preds, 0);
            tasks.push(Task {
                id: TaskId::Number(j.number),
                duration: j.duration,
                demand: j.demand.clone(),
                predecessors: p.iter().map(|&x| new_index[x]).collect(),
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
    tok.parse()
        .map_err(|_| ParseError::new(line, format!("expected {what}, found '{tok}'")))
}
