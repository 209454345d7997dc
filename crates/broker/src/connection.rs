//! One client connection: read a frame, handle it, write the response, repeat.
//!
//! Requests on a connection are handled one at a time, in order, as Kafka does (it mutes a
//! channel while a request is in flight), so responses are always in request order. A
//! frame that cannot be framed, a header that cannot be decoded, an unknown API key, an
//! unsupported version (except ApiVersions) or an undecodable body closes the connection:
//! the client and server no longer agree on the byte stream. Everything else is answered.
//!
//! On a SASL listener the connection first runs [`crate::auth::sasl::SaslServer`]: until
//! it authenticates only ApiVersions, SaslHandshake and SaslAuthenticate are answered, and
//! a failed authentication closes the connection after its error response.
//!
//! A LinkTunnel request (source-initiated cluster links) that the handler accepts ends this
//! task without an answer: the stream is handed to the link's tunnel pool, which answers
//! when it claims it (see [`crate::handlers::link_tunnel`]).
//!
//! Responses are written without copying: bytes chunks with `writev`, and on a plaintext
//! socket a Fetch response's records go from the segment file with `sendfile(2)`
//! ([`FramePart::File`]). A file part that cannot be sent whole (the segment was truncated
//! under it) closes the connection: the frame's size prefix is already out, and the client
//! must not take other bytes for the batches it announced (Kafka closes the same way).
//! `sendfile` runs on the async worker: the fetch's read already ran on an I/O thread and
//! only fixed the range, so what the worker does is the kernel's page cache → socket move;
//! a range not in the page cache (a consumer far behind) makes that call wait for the
//! disk, as Kafka's network thread does in `transferTo`.

use std::sync::Arc;

use std::io::IoSlice;
use std::os::fd::AsFd;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use strait_protocol::frame::try_split_frame;
use strait_protocol::response::{FileRegion, FramePart, ResponseFrame};

use crate::auth::config::ListenerSecurity;
use crate::auth::sasl::{SaslServer, Step};
use crate::auth::Session;
use crate::broker::Broker;
use crate::dispatch;
use crate::handlers::link_tunnel;

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("framing: {0}")]
    Frame(#[from] strait_protocol::frame::FrameError),
    #[error("protocol: {0}")]
    Protocol(#[from] strait_protocol::ProtocolError),
    #[error("authentication: {0}")]
    Authentication(String),
}

/// A connection's byte stream, and whether its bytes go to the socket as they are.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The socket a Fetch response's records can be `sendfile`d into: only when what is
    /// written to the stream reaches the socket unchanged (plaintext, SASL_PLAINTEXT).
    fn sendfile_socket(&self) -> Option<&TcpStream> {
        None
    }
}

impl Transport for TcpStream {
    fn sendfile_socket(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

/// TLS encrypts in user space: records must be read and handed to rustls.
impl Transport for tokio_rustls::server::TlsStream<TcpStream> {}

pub async fn run<S>(
    broker: Arc<Broker>,
    mut stream: S,
    listener: Arc<ListenerSecurity>,
    session: Session,
) -> Result<(), ConnectionError>
where
    S: Transport,
{
    let max = broker.config.socket_request_max_bytes;
    // SASL in Kafka never wraps the stream after authentication (no QoS layer), so a
    // SASL_PLAINTEXT socket takes file bytes as they are, like PLAINTEXT.
    let file_records = stream.sendfile_socket().is_some();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut session = Arc::new(session);
    let mut sasl = listener
        .protocol
        .uses_sasl()
        .then(|| SaslServer::new((*listener).clone()));
    loop {
        let mut frame = loop {
            if let Some(frame) = try_split_frame(&mut buf, max)? {
                break frame;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        if let Some(auth) = &mut sasl {
            match auth.on_frame(&broker.security, frame) {
                Step::Dispatch(f) => frame = f,
                Step::Reply(reply) => {
                    stream.write_all(&reply).await?;
                    stream.flush().await?;
                    continue;
                }
                Step::Authenticated { reply, principal } => {
                    stream.write_all(&reply).await?;
                    stream.flush().await?;
                    session = Arc::new(Session {
                        principal,
                        ..(*session).clone()
                    });
                    sasl = None;
                    continue;
                }
                Step::Close { reply, reason } => {
                    if let Some(reply) = reply {
                        stream.write_all(&reply).await?;
                    }
                    stream.flush().await?;
                    let _ = stream.shutdown().await;
                    return Err(ConnectionError::Authentication(reason));
                }
            }
        }
        if strait_protocol::header::peek_key_version(&frame)
            .is_ok_and(|(key, _)| key == strait_protocol::link_admin::LINK_TUNNEL)
        {
            match link_tunnel::accept(&broker, &session, frame, !buf.is_empty())? {
                Ok(parked) => {
                    parked.park(Box::new(stream));
                    return Ok(());
                }
                Err(reply) => {
                    stream.write_all(&reply).await?;
                    stream.flush().await?;
                    continue;
                }
            }
        }
        match dispatch::handle_frame(&broker, &session, frame, file_records).await {
            Ok(Some(response)) => {
                write_frame(&mut stream, &response).await?;
                stream.flush().await?;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(error = %e, "closing connection on bad request");
                return Err(e.into());
            }
        }
    }
}

/// Most chunks handed to one `writev`; Linux takes up to 1024 (`UIO_MAXIOV`).
const MAX_IOVECS: usize = 64;

/// Writes the chunks of `frame` in order: runs of bytes chunks with `writev` where the
/// stream supports it (plain TCP), so a Fetch response's records go from the segment read
/// buffer to the socket without an intermediate copy, one chunk at a time otherwise (TLS,
/// which copies into its records anyway); file chunks with `sendfile` on a plaintext
/// socket, or read and written where the stream has none.
async fn write_frame<S>(stream: &mut S, frame: &ResponseFrame) -> std::io::Result<()>
where
    S: Transport,
{
    let parts = frame.parts();
    let mut i = 0;
    while i < parts.len() {
        match &parts[i] {
            FramePart::File(region) => {
                match stream.sendfile_socket() {
                    Some(socket) => send_region(socket, region.as_ref()).await?,
                    None => {
                        // Not produced for such streams (the fetch reads the bytes
                        // instead), but correct if it is: read, then write.
                        let bytes = region.read()?;
                        stream.write_all(&bytes).await?;
                    }
                }
                i += 1;
            }
            FramePart::Bytes(_) => {
                let end = parts[i..]
                    .iter()
                    .position(|p| matches!(p, FramePart::File(_)))
                    .map_or(parts.len(), |k| i + k);
                let run: Vec<&[u8]> = parts[i..end]
                    .iter()
                    .filter_map(|p| match p {
                        FramePart::Bytes(b) => Some(&b[..]),
                        FramePart::File(_) => None,
                    })
                    .collect();
                write_chunks(stream, &run).await?;
                i = end;
            }
        }
    }
    Ok(())
}

/// Sends all of `region` into `socket` with `sendfile(2)`, waiting for the nonblocking
/// socket to become writable between calls. The page cache read happens in the kernel;
/// a region whose file shrank is an error (see the module docs).
async fn send_region(socket: &TcpStream, region: &dyn FileRegion) -> std::io::Result<()> {
    let mut done = 0usize;
    while done < region.len() {
        socket.writable().await?;
        match socket.try_io(Interest::WRITABLE, || region.send_to(socket.as_fd(), done)) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes `parts` back to back, vectored where the stream supports it.
async fn write_chunks<S>(stream: &mut S, parts: &[&[u8]]) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    if !stream.is_write_vectored() {
        for part in parts {
            stream.write_all(part).await?;
        }
        return Ok(());
    }
    // Next unwritten byte: chunk `i`, offset `off` within it.
    let (mut i, mut off) = (0usize, 0usize);
    loop {
        // Skip finished (or empty) chunks: a zero-length write would read as WriteZero.
        while i < parts.len() && off == parts[i].len() {
            i += 1;
            off = 0;
        }
        if i == parts.len() {
            return Ok(());
        }
        let slices: Vec<IoSlice<'_>> = parts[i..]
            .iter()
            .take(MAX_IOVECS)
            .enumerate()
            .map(|(k, p)| IoSlice::new(if k == 0 { &p[off..] } else { p }))
            .collect();
        let mut n = stream.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        // Advance past what was written, possibly ending inside a chunk.
        while i < parts.len() && n >= parts[i].len() - off {
            n -= parts[i].len() - off;
            i += 1;
            off = 0;
        }
        off += n;
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;

    use super::*;

    /// A sink that takes at most `step` bytes per write, vectored or not.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        vectored: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let mut left = self.step;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                self.out.extend_from_slice(&b[..take]);
                left -= take;
                n += take;
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn write_chunks_survives_short_writes_and_empty_chunks() {
        let parts: Vec<Bytes> = (0..150u32)
            .map(|i| Bytes::from(vec![i as u8; (i as usize * 7) % 23]))
            .collect();
        let expected: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let chunks: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        for vectored in [true, false] {
            for step in [1, 5, 22, 23, 64, 100_000] {
                let mut sink = Trickle {
                    out: Vec::new(),
                    step,
                    vectored,
                };
                write_chunks(&mut sink, &chunks).await.unwrap();
                assert_eq!(sink.out, expected, "step {step} vectored {vectored}");
            }
        }
    }
}
