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
    /// Responses with a 2xx or 3xx status.
    pub ok: u64,
    /// Responses with another status, by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no response (refused, reset, timed out).
    pub transport_errors: u64,
    /// The first transport error, as text, to show in reports.
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
}

impl LoadStats {
    /// Requests that did not get a 2xx/3xx response.
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
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.body_bytes += other.body_bytes;
        self.elapsed += other.elapsed;
        self.p50 = self.p50.max(other.p50);
        self.p99 = self.p99.max(other.p99);
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
