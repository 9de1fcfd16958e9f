//! What a run tells the operator: one line per resource as it is handled
//! (`ok`, `changed`, `failed` with the reason, `skipped`), diffs on a dry run,
//! and a recap; or one JSON document with `--output json`. A progress bar is
//! drawn only when standard error is a terminal. Each line carries the time
//! its resource took (from the previous line), and the recap sums them per
//! kind, so a benchmark can read where a run spends its time.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Exit code for input setup refuses (nothing was changed).
pub const EXIT_BAD_INPUT: u8 = 2;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::setup::input::model::OutputFormat;
use crate::setup::preflight::{Finding, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// `text` with the password of every URL in it (`scheme://user:password@`)
/// shown as `***`: a proxy or mirror URL may carry one, and nothing setup
/// prints (lines, diffs, warnings, errors, JSON) may show it.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || "/\"'<>`".contains(c))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((userinfo, _)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or_default();
                out.push_str(user);
                out.push_str(":***");
                rest = &tail[userinfo.len()..];
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub status: Status,
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recap {
    pub ok: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Recap {
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} ok, {} changed, {} failed",
            self.ok, self.changed, self.failed
        );
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }
}

/// A line as the JSON document carries it: with its duration.
#[derive(Debug, Serialize)]
struct TimedLine<'a> {
    #[serde(flatten)]
    line: &'a Line,
    seconds: f64,
}

/// The time one kind of resource took over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindTime {
    pub kind: String,
    pub count: usize,
    pub seconds: f64,
}

/// Human-sized: microseconds to seconds.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.01 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    command: &'a str,
    dry_run: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
    warnings: &'a [String],
    #[serde(skip_serializing_if = "<[Finding]>::is_empty")]
    preflight: &'a [Finding],
    /// The node's security by fingerprint (never a key).
    #[serde(skip_serializing_if = "Option::is_none")]
    security: Option<&'a serde_json::Value>,
    resources: Vec<TimedLine<'a>>,
    recap: &'a Recap,
    time_per_kind: Vec<KindTime>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    restart_needed: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

pub struct Reporter {
    format: OutputFormat,
    command: &'static str,
    dry_run: bool,
    out: Box<dyn Write>,
    progress: Option<ProgressBar>,
    pub lines: Vec<Line>,
    /// How long each line's resource took, by index into `lines`.
    pub durations: Vec<Duration>,
    last: Instant,
    pub recap: Recap,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub preflight: Vec<Finding>,
    /// The node's security as the JSON report shows it: fingerprints only.
    pub security: Option<serde_json::Value>,
    /// Text shown once, to the operator at the terminal, at the end of the
    /// run that wrote it: a generated token. Never part of the JSON report.
    shown_once: Option<String>,
}

impl Reporter {
    pub fn new(
        format: OutputFormat,
        command: &'static str,
        dry_run: bool,
        out: Box<dyn Write>,
    ) -> Self {
        Reporter {
            format,
            command,
            dry_run,
            out,
            progress: None,
            lines: Vec::new(),
            durations: Vec::new(),
            last: Instant::now(),
            recap: Recap::default(),
            warnings: Vec::new(),
            notes: Vec::new(),
            preflight: Vec::new(),
            security: None,
            shown_once: None,
        }
    }

    /// Shows `text` at the end of the text report; the JSON report leaves
    /// it out (the caller says there what to run instead).
    pub fn show_once(&mut self, text: String) {
        self.shown_once = Some(text);
    }

    /// Reporting to this process's standard output.
    pub fn stdout(format: OutputFormat, command: &'static str, dry_run: bool) -> Self {
        Self::new(format, command, dry_run, Box::new(std::io::stdout()))
    }

    /// From now on a dry run: the plan is shown, nothing is written.
    pub fn dry_run(&mut self) {
        self.dry_run = true;
    }

    /// Shows a progress bar over `total` steps when a person is watching.
    pub fn start(&mut self, total: usize) {
        self.last = Instant::now();
        if self.format == OutputFormat::Text && std::io::stderr().is_terminal() {
            let pb = ProgressBar::new(total as u64);
            pb.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                    .expect("static progress template"),
            );
            self.progress = Some(pb);
        }
        if self.dry_run && self.format == OutputFormat::Text {
            self.print("dry run: showing what would change; nothing is written\n");
        }
    }

    /// Shows the preflight checks (warnings are reported again as warnings).
    pub fn preflight(&mut self, findings: &[Finding]) {
        let findings: Vec<Finding> = findings
            .iter()
            .map(|f| Finding {
                detail: redact(&f.detail),
                ..f.clone()
            })
            .collect();
        if self.format == OutputFormat::Text {
            let mut text = String::new();
            for f in &findings {
                let verdict = match f.verdict {
                    Verdict::Pass => "pass",
                    Verdict::Warn => "warn",
                    Verdict::Fail => "fail",
                    Verdict::Skipped => "skipped",
                };
                text.push_str(&format!(
                    "preflight {verdict:<7} {}: {}\n",
                    f.name, f.detail
                ));
            }
            self.print(&text);
        }
        self.preflight = findings;
    }

    /// Ends a run refused before anything changed: the message on standard
    /// error, or the JSON document with it.
    pub fn refuse(self, message: &str) {
        match self.format {
            OutputFormat::Text => eprintln!("mesos-docker {}: {}", self.command, redact(message)),
            // The document carries the error; finish also prints it to stderr.
            OutputFormat::Json => self.finish(&[], Some(message)),
        }
    }

    /// A line for the operator that is neither a resource nor a warning
    /// (a choice setup made for them, a key trusted on first use).
    pub fn note(&mut self, n: String) {
        if self.format == OutputFormat::Text {
            self.print(&format!("{n}\n"));
        }
        self.notes.push(n);
    }

    pub fn warn(&mut self, w: String) {
        let w = redact(&w);
        if self.format == OutputFormat::Text {
            let msg = format!("warning: {w}");
            match &self.progress {
                Some(pb) => pb.println(msg),
                None => eprintln!("{msg}"),
            }
        }
        self.warnings.push(w);
    }

    fn print(&mut self, text: &str) {
        match &self.progress {
            Some(pb) => pb.suspend(|| {
                let _ = self.out.write_all(text.as_bytes());
                let _ = self.out.flush();
            }),
            None => {
                let _ = self.out.write_all(text.as_bytes());
            }
        }
    }

    pub fn line(&mut self, mut line: Line) {
        line.id = redact(&line.id);
        line.detail = line.detail.as_deref().map(redact);
        line.diff = line.diff.as_deref().map(redact);
        let now = Instant::now();
        let took = now - self.last;
        self.last = now;
        match line.status {
            Status::Ok => self.recap.ok += 1,
            Status::Changed => self.recap.changed += 1,
            Status::Failed => self.recap.failed += 1,
            Status::Skipped => self.recap.skipped += 1,
        }
        if let Some(pb) = &self.progress {
            pb.inc(1);
            pb.set_message(line.id.clone());
        }
        if self.format == OutputFormat::Text {
            let mut text = format!("{:<8} {:<7} {}", line.status.label(), line.kind, line.id);
            if let Some(d) = &line.detail {
                text.push_str(&format!(": {d}"));
            }
            text.push_str(&format!(" [{}]\n", human(took)));
            if let Some(diff) = &line.diff {
                text.push_str(diff);
                if !diff.ends_with('\n') {
                    text.push('\n');
                }
            }
            self.print(&text);
        }
        self.lines.push(line);
        self.durations.push(took);
    }

    /// Time per kind of resource, in the order kinds first appeared.
    pub fn time_per_kind(&self) -> Vec<KindTime> {
        let mut out: Vec<KindTime> = Vec::new();
        for (l, d) in self.lines.iter().zip(&self.durations) {
            match out.iter_mut().find(|k| k.kind == l.kind) {
                Some(k) => {
                    k.count += 1;
                    k.seconds += d.as_secs_f64();
                }
                None => out.push(KindTime {
                    kind: l.kind.clone(),
                    count: 1,
                    seconds: d.as_secs_f64(),
                }),
            }
        }
        out
    }

    /// Prints the recap (or the JSON document) and what needs a restart.
    pub fn finish(mut self, restart_needed: &[String], error: Option<&str>) {
        let error = error.map(redact);
        let error = error.as_deref();
        if let Some(pb) = self.progress.take() {
            pb.finish_and_clear();
        }
        match self.format {
            OutputFormat::Text => {
                let mut text = String::new();
                if !restart_needed.is_empty() {
                    text.push_str(&format!(
                        "inputs changed for: {} (restart them to apply)\n",
                        restart_needed.join(", ")
                    ));
                }
                let kinds = self.time_per_kind();
                if !kinds.is_empty() {
                    let parts: Vec<String> = kinds
                        .iter()
                        .map(|k| {
                            format!(
                                "{} {} ({})",
                                k.kind,
                                human(Duration::from_secs_f64(k.seconds)),
                                k.count
                            )
                        })
                        .collect();
                    text.push_str(&format!("time per kind: {}\n", parts.join(", ")));
                }
                text.push_str(&self.recap.text());
                if self.dry_run {
                    text.push_str(" (dry run: nothing was written)");
                }
                text.push('\n');
                // Shown after a failure too: the token is kept on the node
                // by then, and this is the one time it is printed.
                if let Some(once) = self.shown_once.take() {
                    text.push('\n');
                    text.push_str(&once);
                }
                let _ = self.out.write_all(text.as_bytes());
            }
            OutputFormat::Json => {
                let doc = JsonReport {
                    command: self.command,
                    dry_run: self.dry_run,
                    notes: &self.notes,
                    warnings: &self.warnings,
                    preflight: &self.preflight,
                    security: self.security.as_ref(),
                    resources: self
                        .lines
                        .iter()
                        .zip(&self.durations)
                        .map(|(line, d)| TimedLine {
                            line,
                            seconds: d.as_secs_f64(),
                        })
                        .collect(),
                    recap: &self.recap,
                    time_per_kind: self.time_per_kind(),
                    restart_needed,
                    error,
                };
                let mut text = serde_json::to_string_pretty(&doc).expect("report serializes");
                text.push('\n');
                let _ = self.out.write_all(text.as_bytes());
            }
        }
        let _ = self.out.flush();
        if let Some(e) = error {
            eprintln!("mesos-docker {}: {e}", self.command);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(status: Status, id: &str) -> Line {
        Line {
            status,
            kind: "file".into(),
            id: id.into(),
            detail: None,
            diff: None,
        }
    }

    #[test]
    fn url_passwords_are_hidden() {
        for (text, shown) in [
            (
                "+HTTP_PROXY=\"http://user:s3cret@proxy:3128\"",
                "+HTTP_PROXY=\"http://user:***@proxy:3128\"",
            ),
            (
                "cannot download https://u:p@ss@mirror/x.tgz: refused; http://a:b@c",
                "cannot download https://u:***@mirror/x.tgz: refused; http://a:***@c",
            ),
            (
                "http://user@proxy:3128/a:b@c",
                "http://user@proxy:3128/a:b@c",
            ),
            (
                "docker:mesosphere/marathon:v1@sha256:ab",
                "docker:mesosphere/marathon:v1@sha256:ab",
            ),
            ("no url at all: a:b@c", "no url at all: a:b@c"),
        ] {
            assert_eq!(redact(text), shown);
        }
    }

    #[test]
    fn text_lines_and_recap() {
        let buf = Buf::default();
        let mut r = Reporter::new(OutputFormat::Text, "setup", false, Box::new(buf.clone()));
        r.line(line(Status::Ok, "/a"));
        r.line(line(Status::Changed, "/b"));
        r.finish(&["mesos-agent".into()], None);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        // Durations vary: each is checked for its form, then blanked.
        let blank: Vec<String> = text
            .lines()
            .map(|l| match l.rsplit_once(" [") {
                Some((head, t)) if t.ends_with(" ms]") => format!("{head} [T]"),
                _ => l.to_owned(),
            })
            .map(|l| match l.split_once("time per kind: ") {
                Some(_) => "time per kind: T".to_owned(),
                None => l,
            })
            .collect();
        assert_eq!(
            blank,
            [
                "ok       file    /a [T]",
                "changed  file    /b [T]",
                "inputs changed for: mesos-agent (restart them to apply)",
                "time per kind: T",
                "1 ok, 1 changed, 0 failed",
            ]
        );
        assert!(text.contains("time per kind: file "), "{text}");
        assert!(text.contains(" ms (2)\n"), "{text}");
    }

    #[test]
    fn json_document() {
        let buf = Buf::default();
        let mut r = Reporter::new(OutputFormat::Json, "setup", true, Box::new(buf.clone()));
        r.line(line(Status::Failed, "/c"));
        r.finish(&[], Some("boom"));
        let v: serde_json::Value = serde_json::from_slice(&buf.0.lock().unwrap()).unwrap();
        assert_eq!(v["recap"]["failed"], 1);
        assert_eq!(v["resources"][0]["status"], "failed");
        assert_eq!(v["error"], "boom");
        assert_eq!(v["dry_run"], true);
        assert!(v["resources"][0]["seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(v["time_per_kind"][0]["kind"], "file");
        assert_eq!(v["time_per_kind"][0]["count"], 1);
    }

    #[test]
    fn durations_read_by_people() {
        assert_eq!(human(Duration::from_micros(120)), "0.12 ms");
        assert_eq!(human(Duration::from_millis(42)), "42.0 ms");
        assert_eq!(human(Duration::from_millis(2500)), "2.50 s");
    }
}
