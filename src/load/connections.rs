//! Connection cycles: a WebSocket opened, used and closed (`websocket = "/ws"`, `send`,
//! `receive`), and a Server-Sent Events stream opened, read for K events and dropped (`sse =
//! "/events"`, `events`). Per-connection state that a service forgets to free shows up once
//! per cycle, which one long-lived connection would never show.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use super::flow::StepError;
use crate::leakspec::format_duration;
use crate::leakspec::traffic::StatusSet;

/// One WebSocket cycle: handshake, send `send` in order, wait for `receive` data messages,
/// close (with the closing handshake), all within `timeout`.
pub(crate) async fn websocket(
    url: &str,
    headers: HeaderMap,
    send: &[String],
    receive: u64,
    timeout: Duration,
    expect: &StatusSet,
    bytes: &mut u64,
) -> Result<(), StepError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| StepError::Other(format!("invalid WebSocket URL `{url}`: {e}")))?;
    for (name, value) in &headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    let cycle = async {
        let mut ws = match tokio_tungstenite::connect_async(request).await {
            Ok((ws, response)) => {
                let status = response.status().as_u16();
                if !expect.accepts(status) {
                    return Err(StepError::Status(status));
                }
                ws
            }
            Err(tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                // A refused upgrade the step expects (say a 401 on purpose) is its success.
                return if expect.accepts(status) {
                    Ok(())
                } else {
                    Err(StepError::Status(status))
                };
            }
            Err(e) => return Err(StepError::Other(format!("the WebSocket handshake failed: {e}"))),
        };
        for message in send {
            ws.send(Message::text(message.as_str()))
                .await
                .map_err(|e| StepError::Other(format!("could not send a message: {e}")))?;
        }
        let mut received = 0;
        while received < receive {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    *bytes += t.len() as u64;
                    received += 1;
                }
                Some(Ok(Message::Binary(b))) => {
                    *bytes += b.len() as u64;
                    received += 1;
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err(StepError::Other(format!(
                        "the server closed the WebSocket after {received} of {receive} messages"
                    )));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    return Err(StepError::Other(format!(
                        "the WebSocket failed after {received} of {receive} messages: {e}"
                    )));
                }
            }
        }
        // The closing handshake: send Close, read until the server's Close ends the stream.
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
        Ok(())
    };
    match tokio::time::timeout(timeout, cycle).await {
        Ok(result) => result,
        Err(_) => Err(StepError::Timeout(format!(
            "the WebSocket cycle did not finish within {}",
            format_duration(timeout)
        ))),
    }
}

/// One SSE cycle: GET the stream, read `events` events (blocks ended by a blank line that
/// hold more than comments), then drop the connection.
pub(crate) async fn sse(
    client: &reqwest::Client,
    url: &str,
    mut headers: HeaderMap,
    events: u64,
    timeout: Duration,
    expect: &StatusSet,
    bytes: &mut u64,
) -> Result<(), StepError> {
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    }
    let cycle = async {
        let mut response = client
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| StepError::Other(super::error_text(&e)))?;
        let status = response.status().as_u16();
        if !expect.accepts(status) {
            return Err(StepError::Status(status));
        }
        let mut counter = EventCounter::default();
        while counter.events < events {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    *bytes += chunk.len() as u64;
                    counter.feed(&chunk);
                }
                Ok(None) => {
                    return Err(StepError::Other(format!(
                        "the stream ended after {} of {events} events",
                        counter.events
                    )));
                }
                Err(e) => return Err(StepError::Other(super::error_text(&e))),
            }
        }
        // Dropping the response mid-body closes the connection: the server sees `close`.
        drop(response);
        Ok(())
    };
    match tokio::time::timeout(timeout, cycle).await {
        Ok(result) => result,
        Err(_) => Err(StepError::Timeout(format!(
            "fewer than {events} events within {}",
            format_duration(timeout)
        ))),
    }
}

/// Counts SSE events across chunk boundaries.
#[derive(Debug, Default)]
struct EventCounter {
    events: u64,
    /// The current line so far.
    line: Vec<u8>,
    /// Whether the event being read has a field line (not only comments).
    fields: bool,
}

impl EventCounter {
    fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            match b {
                b'\r' => {}
                b'\n' => {
                    if self.line.is_empty() {
                        if self.fields {
                            self.events += 1;
                        }
                        self.fields = false;
                    } else if self.line[0] != b':' {
                        self.fields = true;
                    }
                    self.line.clear();
                }
                _ => {
                    if self.line.is_empty() {
                        self.line.push(b);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventCounter;

    #[test]
    fn counts_events_across_chunks_and_skips_comments() {
        let mut c = EventCounter::default();
        c.feed(b": keep-alive\n\nevent: tick\nda");
        assert_eq!(c.events, 0);
        c.feed(b"ta: 1\n");
        c.feed(b"\r\n");
        assert_eq!(c.events, 1);
        c.feed(b"data: 2\r\n\r\ndata: 3\n\n");
        assert_eq!(c.events, 3);
    }
}
