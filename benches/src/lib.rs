//! What the benchmarks share: a realistic event, a load that writes it, domain commands decided
//! into append requests, and latency summaries.
//! The benchmarks are run by hand (see README.md); tests never time anything.

pub mod system;

use std::time::Duration;

use chrono::Utc;
use domain::{Aggregate, Context};
use eventstore::{AppendRequest, ExpectedVersion, Metadata, NewEvent, StreamAppend, StreamRef};
use hdrhistogram::Histogram;
use serde_json::json;
use uuid::Uuid;

/// The allocator the `crm` binary runs with, so that in-process figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A touchpoint as a sales team logs it: about 300 bytes of JSON.
pub fn activity(stream: &StreamRef, count: usize) -> AppendRequest {
    let events = (0..count)
        .map(|index| NewEvent {
            event_type: "logged".to_owned(),
            schema_version: 1,
            occurred_at: Utc::now(),
            payload: json!({
                "kind": "call",
                "subject": "Follow-up on the renewal quote",
                "body": "Discussed volume discount; they want the revised quote by Friday.",
                "direction": "outbound",
                "duration_minutes": 12 + index % 30,
                "contact_id": stream.stream_id,
                "outcome": "interested",
            }),
        })
        .collect();
    AppendRequest::new(
        Metadata {
            actor: "user:0190f0c2-7a51-7cc3-9d2b-4f6e0a1b2c3d".to_owned(),
            correlation_id: Some(Uuid::now_v7()),
            causation_id: None,
        },
        vec![StreamAppend::events(
            stream.clone(),
            ExpectedVersion::Any,
            events,
        )],
    )
}

/// Logs what the system under test says at `RUST_LOG`'s level (nothing unless set), on stderr.
pub fn log_from_env() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// `p50 1.2 ms, p99 4.5 ms, p99.9 7.0 ms, max 9.1 ms (n = 50000)` from microseconds.
pub fn summary(histogram: &Histogram<u64>) -> String {
    let ms = |micros: u64| micros as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (n = {})",
        ms(histogram.value_at_quantile(0.50)),
        ms(histogram.value_at_quantile(0.99)),
        ms(histogram.value_at_quantile(0.999)),
        ms(histogram.max()),
        histogram.len()
    )
}

pub fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

/// Peak resident memory of a process, from /proc (Linux), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) a process has used so far, from /proc (Linux), in seconds. /proc
/// counts in USER_HZ, which is 100 on every Linux the benchmarks run on.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// CPU seconds used so far by every process whose command name is `name` (`postgres`,
/// `nats-server`): the servers a benchmark shares the machine with, when they run locally.
pub fn cpu_seconds_named(name: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .filter_map(cpu_seconds)
        .sum()
}

/// `command` decided on `state` (at `version`) as an append request.
pub fn decided<A: Aggregate>(
    state: &A::State,
    id: Uuid,
    command: A::Command,
    context: &Context,
    version: u64,
) -> anyhow::Result<AppendRequest> {
    let events = A::decide(state, command, context)?;
    Ok(request::<A>(id, version, &events, context.now))
}

/// `events` of aggregate `id`, at `version` before them, as an append request by the system.
pub fn request<A: Aggregate>(
    id: Uuid,
    version: u64,
    events: &[A::Event],
    now: chrono::DateTime<Utc>,
) -> AppendRequest {
    let expected = if version == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exactly(version)
    };
    AppendRequest::new(
        Metadata::actor("system"),
        vec![StreamAppend::events(
            StreamRef::new(A::STREAM_TYPE, id),
            expected,
            api::command::new_events_at(events, now),
        )],
    )
}
