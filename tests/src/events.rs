//! A subscriber of `GET /v1/events/stream`: its server-sent events, read as they come.

use std::time::Duration;

use serde_json::Value;

/// An open event stream.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

/// One server-sent event: the position as its id, the event's type and its envelope.
#[derive(Debug, Clone)]
pub struct StreamedEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

impl EventStream {
    pub(crate) fn new(response: reqwest::Response) -> EventStream {
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comment lines, which keep the stream open, are skipped). Panics if none
    /// comes within 10 s or the stream ends.
    pub async fn next(&mut self) -> StreamedEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                match parse(&block) {
                    Some(event) => return event,
                    None => continue,
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("the stream reads")
                .expect("the stream goes on");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Whether the server ended the stream within `wait` (no event came meanwhile).
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        matches!(
            tokio::time::timeout(wait, self.response.chunk()).await,
            Ok(Ok(None) | Err(_))
        )
    }
}

/// An event block's fields; `None` for a comment.
fn parse(block: &str) -> Option<StreamedEvent> {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("event:") {
            event = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data = Some(serde_json::from_str(value.trim()).expect("data is JSON"));
        }
    }
    Some(StreamedEvent {
        id: id?,
        event: event?,
        data: data?,
    })
}
