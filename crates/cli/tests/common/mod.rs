//! Running the real `powerslot` binary on crafted bad input (issue 12): each case
//! must end with exit code 2 and one `error:` line holding the words given, never a
//! panic, an abort or a hang.

#![allow(dead_code)] // each test file uses its own part of the helpers

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Long enough for any case on a loaded machine; a hang is reported, not waited out.
const HANG: Duration = Duration::from_secs(60);

/// What one run printed.
pub(crate) struct Outcome {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the binary with `args` in `dir`.
pub(crate) fn run(dir: &Path, args: &[&str]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_powerslot"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting works") {
            break Some(status);
        }
        if started.elapsed() > HANG {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        code: status.and_then(|s| s.code()),
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

/// One crafted bad input: the arguments and the words its message must hold.
pub(crate) struct Case {
    pub(crate) args: Vec<String>,
    pub(crate) words: Vec<String>,
}

/// A case from a command line (split on spaces) and the words of its message.
pub(crate) fn case(args: &str, words: &[&str]) -> Case {
    Case {
        args: args
            .split(' ')
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect(),
        words: words.iter().map(|w| w.to_string()).collect(),
    }
}

/// A case whose arguments contain spaces or computed parts.
pub(crate) fn case_args(args: Vec<String>, words: &[&str]) -> Case {
    Case {
        args,
        words: words.iter().map(|w| w.to_string()).collect(),
    }
}

/// Runs every case and fails with all that did not end in exit 2 and one
/// `error:` line with their words. Returns the number of cases.
pub(crate) fn check_all(dir: &Path, cases: &[Case]) -> usize {
    let mut failures = Vec::new();
    for c in cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let o = run(dir, &args);
        let errors: Vec<&str> = o
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        let other: Vec<&str> = o
            .stderr
            .lines()
            .filter(|l| !l.starts_with("error:") && !l.starts_with("note:"))
            .filter(|l| !l.trim().is_empty())
            .collect();
        let message = errors.first().copied().unwrap_or("");
        let missing: Vec<&String> = c
            .words
            .iter()
            .filter(|w| !message.contains(w.as_str()))
            .collect();
        // clap's usage errors add a usage block after their one error line.
        let clap = o.stderr.contains("Usage:") || o.stderr.contains("For more information");
        let problem = if o.code.is_none() {
            Some("no exit code (killed after hanging, or a signal)".to_string())
        } else if o.code != Some(2) {
            Some(format!("exit code {:?}", o.code))
        } else if errors.len() != 1 {
            Some(format!("{} error lines", errors.len()))
        } else if !other.is_empty() && !clap {
            Some(format!("extra output on stderr: {other:?}"))
        } else if o.stderr.contains("panicked") {
            Some("a panic".to_string())
        } else if !missing.is_empty() {
            Some(format!("message lacks {missing:?}"))
        } else if message.len() > 1000 {
            Some(format!("message of {} characters", message.len()))
        } else {
            None
        };
        if let Some(p) = problem {
            failures.push(format!(
                "powerslot {}\n    {p}\n    stderr: {}",
                c.args.join(" "),
                o.stderr.chars().take(600).collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

/// A scratch directory with files written into it.
pub(crate) struct Files {
    pub(crate) dir: tempfile::TempDir,
}

impl Files {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` and returns its path as text.
    pub(crate) fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        let p: PathBuf = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }
}
