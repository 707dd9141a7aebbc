//! Aborted requests: the request written by hand on a fresh TCP connection, which is closed
//! as the response starts (`abort = "first-byte"`) or after a delay (`abort = "after:50ms"`),
//! so the server sees `close` without `finish`, as it does when a browser tab closes mid-stream.
//! A pooled client can't do this reliably (a finished response goes back to the pool), hence
//! the raw socket.

use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::flow::StepError;
use crate::leakspec::traffic::{Abort, StatusSet};

/// Sends one request to `url` and closes the connection at `abort`. Succeeds when the
/// connection was made and the status, if one arrived before the close, is expected.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send(
    url: &str,
    method: &reqwest::Method,
    headers: &HeaderMap,
    body: Option<&str>,
    abort: Abort,
    timeout: Duration,
    expect: &StatusSet,
    bytes: &mut u64,
) -> Result<(), StepError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| StepError::Other(format!("invalid URL `{url}`: {e}")))?;
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut target = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut request = format!("{method} {target} HTTP/1.1\r\nhost: {host}:{port}\r\n");
    for (name, value) in headers {
        request.push_str(name.as_str());
        request.push_str(": ");
        request.push_str(value.to_str().unwrap_or_default());
        request.push_str("\r\n");
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || !matches!(*method, reqwest::Method::GET | reqwest::Method::HEAD) {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);

    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    let mut stream = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(StepError::Other(format!("could not connect: {e}"))),
        Err(_) => return Err(StepError::Timeout("timed out connecting".into())),
    };
    let _ = stream.set_nodelay(true);
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| StepError::Other(format!("could not send the request: {e}")))?;

    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        match abort {
            Abort::FirstByte => {
                // The first read returns as soon as any byte is there; the status line nearly
                // always comes in the same segment.
                let n = stream.read(&mut buf).await?;
                head.extend_from_slice(&buf[..n]);
                *bytes += n as u64;
                Ok::<bool, std::io::Error>(n > 0)
            }
            Abort::After(delay) => {
                let deadline = tokio::time::sleep(delay);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        () = &mut deadline => return Ok(true),
                        n = stream.read(&mut buf) => {
                            let n = n?;
                            if n == 0 {
                                return Ok(true);
                            }
                            *bytes += n as u64;
                            if head.len() < 1024 {
                                head.extend_from_slice(&buf[..n.min(1024)]);
                            }
                        }
                    }
                }
            }
        }
    };
    let got = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(got)) => got,
        Ok(Err(e)) => {
            return Err(StepError::Other(format!("the connection failed before the abort: {e}")));
        }
        Err(_) => {
            return Err(StepError::Other(format!(
                "no response within {}",
                crate::leakspec::format_duration(timeout)
            )));
        }
    };
    // Closing here, with the response unread, is the point of the step.
    drop(stream);
    if !got && matches!(abort, Abort::FirstByte) {
        return Err(StepError::Other("the server closed the connection without answering".into()));
    }
    match status(&head) {
        Some(code) if !expect.accepts(code) => Err(StepError::Status(code)),
        _ => Ok(()),
    }
}

/// The status of an HTTP/1.x status line at the start of `head`, if complete.
fn status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?;
    let mut words = text.split_whitespace();
    words.next().filter(|w| w.starts_with("HTTP/"))?;
    words.next().filter(|w| w.len() == 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_status_line() {
        assert_eq!(super::status(b"HTTP/1.1 206 Partial\r\nx: y"), Some(206));
        assert_eq!(super::status(b"HTTP/1.1 2"), None);
        assert_eq!(super::status(b"garbage"), None);
    }
}
