//! What a batch of requests did, as the report carries it: counts by status, transport
//! errors, body bytes, wall time and latency percentiles. The load driver ([`crate::load`])
//! fills it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a batch of requests did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadStats {
    /// Requests sent.
    pub sent: u64,
    /// Iterations that succeeded: every step answered with an expected status (by default
    /// 2xx or 3xx) and captured what it had to.
    pub ok: u64,
    /// Unexpected statuses, by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Iterations that failed without an unexpected status: no response (refused, reset,
    /// timed out), a capture that matched nothing, a stream that ended early.
    pub transport_errors: u64,
    /// Of those, the iterations that got no answer within `request_timeout`.
    #[serde(default)]
    pub timeouts: u64,
    /// The first failure, as text (naming the step in a flow), to show in reports.
    pub first_error: Option<String>,
    /// Response body bytes read.
    pub body_bytes: u64,
    /// Wall time of the batch.
    #[serde(with = "duration_secs")]
    pub elapsed: Duration,
    /// Median latency.
    #[serde(with = "duration_secs")]
    pub p50: Duration,
    /// 99th percentile latency.
    #[serde(with = "duration_secs")]
    pub p99: Duration,
    /// Per step, for a flow of more than one step or a connection cycle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepStats>,
    /// The load command's last run (its failing run, if one failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandRun>,
}

/// One step's counts in a flow.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// The step's name.
    pub name: String,
    /// Times the step was attempted.
    pub sent: u64,
    /// Times it succeeded.
    pub ok: u64,
    /// Unexpected statuses, by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures without an unexpected status: no response, a capture that matched nothing,
    /// a WebSocket that closed early...
    pub errors: u64,
    /// Of those, the times it got no answer within `request_timeout` (or its connection's
    /// timeout): which step of a flow hangs.
    #[serde(default)]
    pub timeouts: u64,
    /// The first of those, as text.
    pub first_error: Option<String>,
}

/// One run of a route's load command (`load = { command = [...] }`), as reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CommandRun {
    /// The command as run (placeholders filled in).
    pub argv: Vec<String>,
    /// Its exit status: `exited with status 1`, `was killed by signal 9`, ...
    pub exit: String,
    /// Whether it exited with status 0.
    pub success: bool,
    /// The last lines of its standard output and error, interleaved as they came.
    pub output_tail: String,
}

impl LoadStats {
    /// Iterations that did not succeed.
    pub fn failed(&self) -> u64 {
        self.sent - self.ok
    }

    /// Requests per second over the batch.
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds another batch's counts (latencies keep the larger percentile).
    pub fn absorb(&mut self, other: &LoadStats) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (code, n) in &other.statuses {
            *self.statuses.entry(*code).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.timeouts += other.timeouts;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.body_bytes += other.body_bytes;
        self.elapsed += other.elapsed;
        self.p50 = self.p50.max(other.p50);
        self.p99 = self.p99.max(other.p99);
        if self.steps.len() < other.steps.len() {
            self.steps.resize_with(other.steps.len(), StepStats::default);
        }
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            if mine.name.is_empty() {
                mine.name.clone_from(&theirs.name);
            }
            mine.sent += theirs.sent;
            mine.ok += theirs.ok;
            mine.errors += theirs.errors;
            mine.timeouts += theirs.timeouts;
            for (code, n) in &theirs.statuses {
                *mine.statuses.entry(*code).or_default() += n;
            }
            if mine.first_error.is_none() {
                mine.first_error.clone_from(&theirs.first_error);
            }
        }
        if let Some(run) = &other.command
            && self.command.as_ref().is_none_or(|mine| mine.success || !run.success)
        {
            self.command = Some(run.clone());
        }
    }
}

mod duration_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e6)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        crate::model::secs_from(d)
    }
}
