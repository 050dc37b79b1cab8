//! Sends what HTTP/2 writes to one connection during a pass of the runtime's run queue in one
//! system call.
//!
//! h2 sends a DATA frame of 256 bytes or more (a page of resources, say) by pointing at the
//! payload rather than copying it into its buffer, and has to flush it before it takes the next
//! frame. So every such response went out in a `writev` of its own, and on loopback each came
//! with the kernel's TCP work for one packet (sending, and the peer's receiving, which runs in
//! the sender's system call): 1.3 `writev` per ListResources call, about a sixth of the
//! resource service's CPU. Small answers (ValidateToken) were sent one poll of the connection
//! at a time.
//!
//! [`BatchedWrites`] copies the writes into a buffer and answers the first flush of a batch by
//! waking the flushing task instead of writing. That task is polled again once the runtime has
//! run what was already queued (on the single-threaded scheduler; on the multi-threaded one an
//! idle worker may pick it up sooner), and the tasks that ran meanwhile have handed their
//! responses to h2 too. The batch goes out at the next read (every poll of an h2 connection
//! reads until the socket has nothing before it writes its streams' frames), at shutdown,
//! before a write that would take it past [`HIGH_WATER`], and, as far as the socket takes it
//! at once, when the connection is dropped.
//!
//! The server uses it for plaintext connections only: when a TLS handshake fails, tokio-rustls
//! writes the fatal alert without flushing and the connection is dropped at once, and a client
//! that meanwhile sent its request then sees the reset rather than the alert.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes a batch may hold; a write that would take it further first sends the batch.
pub const HIGH_WATER: usize = 256 * 1024;
/// Capacity kept between batches; a larger buffer is shrunk back to it once sent.
const RETAINED_CAPACITY: usize = 64 * 1024;

/// An accepted connection whose writes are sent together once per pass of the run queue.
#[derive(Debug)]
pub struct BatchedWrites {
    io: TcpStream,
    /// `false`: every call goes straight to `io`.
    batching: bool,
    batch: Vec<u8>,
    /// How much of `batch` already reached the socket.
    sent: usize,
    /// The task woken to send the batch; flushes by that task return at once until it is back.
    send_queued: Option<Waker>,
}

impl BatchedWrites {
    /// Wraps an accepted connection; with `batching` off it only passes calls through.
    pub fn new(io: TcpStream, batching: bool) -> Self {
        Self { io, batching, batch: Vec::new(), sent: 0, send_queued: None }
    }

    /// Bytes written to this connection and not yet handed to the socket.
    pub fn buffered(&self) -> usize {
        self.batch.len() - self.sent
    }

    /// Hands the whole batch to the socket.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.batch.len() {
            let written = ready!(Pin::new(&mut self.io).poll_write(cx, &self.batch[self.sent..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += written;
        }
        self.batch.clear();
        self.batch.shrink_to(RETAINED_CAPACITY);
        self.sent = 0;
        self.send_queued = None;
        Poll::Ready(Ok(()))
    }

    /// Appends `bufs` to the batch, sending the batch first if they would take it past the
    /// high-water mark.
    fn poll_append(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|buf| buf.len()).sum();
        if !self.batch.is_empty() && self.batch.len() + len > HIGH_WATER {
            ready!(self.poll_send(cx))?;
        }
        for buf in bufs {
            self.batch.extend_from_slice(buf);
        }
        Poll::Ready(Ok(len))
    }
}

impl AsyncRead for BatchedWrites {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buffered() > 0 {
            // The woken task is back (or another one reads): send the batch. A full socket
            // wakes the task when it has room again, and reading goes on meanwhile.
            if let Poll::Ready(Err(error)) = this.poll_send(cx) {
                return Poll::Ready(Err(error));
            }
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for BatchedWrites {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.batching {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        }
        this.poll_append(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.batching {
            return Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        }
        this.poll_append(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buffered() == 0 {
            return Pin::new(&mut this.io).poll_flush(cx);
        }
        // h2 flushes after every large frame: the first flush of a batch lets the other queued
        // tasks add their responses, and the same task's flushes until it is back return at
        // once. A flush from another task wakes that one too.
        if !this.send_queued.as_ref().is_some_and(|queued| queued.will_wake(cx.waker())) {
            this.send_queued = Some(cx.waker().clone());
            cx.waker().wake_by_ref();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl Drop for BatchedWrites {
    /// Gives the socket what it takes at once of a batch still held: the connection is going
    /// away, and its last words (a GOAWAY, say) should not go with it.
    fn drop(&mut self) {
        let mut unsent = &self.batch[self.sent..];
        while !unsent.is_empty() {
            match self.io.try_write(unsent) {
                Ok(written) if written > 0 => unsent = &unsent[written..],
                _ => break,
            }
        }
    }
}

impl Connected for BatchedWrites {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A connected pair: the server's end wrapped, and the peer's.
    async fn pair(batching: bool) -> (BatchedWrites, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let peer = TcpStream::connect(listener.local_addr().expect("address")).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        (BatchedWrites::new(accepted, batching), peer)
    }

    /// What the peer can read within a short wait.
    async fn received(peer: &mut TcpStream, at_least: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut chunk = [0_u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while got.len() < at_least.max(1) {
            match tokio::time::timeout_at(deadline, peer.read(&mut chunk)).await {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(read)) => got.extend_from_slice(&chunk[..read]),
                Ok(Err(error)) => panic!("peer read failed: {error}"),
            }
        }
        got
    }

    /// One poll of a task: two writes and flushes, as h2 makes them for two large frames.
    fn one_poll(io: &mut BatchedWrites, waker: &Waker) {
        let mut cx = Context::from_waker(waker);
        for part in [&b"first "[..], &b"second"[..]] {
            let written = Pin::new(&mut *io).poll_write_vectored(&mut cx, &[IoSlice::new(part)]);
            assert!(matches!(written, Poll::Ready(Ok(6))), "a batched write is taken at once: {written:?}");
            let flushed = Pin::new(&mut *io).poll_flush(&mut cx);
            assert!(matches!(flushed, Poll::Ready(Ok(()))), "a batched flush returns at once: {flushed:?}");
        }
    }

    #[tokio::test]
    async fn writes_of_one_poll_reach_the_peer_together_when_the_woken_task_reads() {
        let (mut io, mut peer) = pair(true).await;
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(Arc::clone(&wakes));

        one_poll(&mut io, &waker);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the first flush wakes the task once");
        assert_eq!(io.buffered(), 12);
        assert!(received(&mut peer, 0).await.is_empty(), "nothing is sent before the task is back");

        // The task is back: h2 reads first, which sends the batch in one write.
        let mut cx = Context::from_waker(&waker);
        let mut space = [0_u8; 16];
        let read = Pin::new(&mut io).poll_read(&mut cx, &mut ReadBuf::new(&mut space));
        assert!(read.is_pending(), "the peer sent nothing");
        assert_eq!(io.buffered(), 0);
        assert_eq!(received(&mut peer, 12).await, b"first second");
    }

    #[tokio::test]
    async fn a_batch_is_sent_before_a_write_would_take_it_past_the_high_water_mark() {
        let (mut io, mut peer) = pair(true).await;
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            peer.read_to_end(&mut all).await.map(|_| all)
        });
        let big = vec![7_u8; HIGH_WATER];
        io.write_all(&big).await.expect("first write");
        assert_eq!(io.buffered(), HIGH_WATER, "up to the mark, writes are kept");
        io.write_all(b"more").await.expect("second write");
        assert_eq!(io.buffered(), 4, "the full batch went out before more was taken");
        io.shutdown().await.expect("shutdown");
        let all = reader.await.expect("the reader").expect("read to the end");
        assert_eq!(all.len(), HIGH_WATER + 4);
        assert!(all.ends_with(b"more"));
    }

    #[tokio::test]
    async fn shutting_down_or_dropping_the_connection_sends_the_batch() {
        for shut_down in [true, false] {
            let (mut io, mut peer) = pair(true).await;
            one_poll(&mut io, Waker::noop());
            if shut_down {
                io.shutdown().await.expect("shutdown");
            }
            drop(io);
            let mut all = Vec::new();
            peer.read_to_end(&mut all).await.expect("read to the end");
            assert_eq!(all, b"first second", "shut down before the drop: {shut_down}");
        }
    }

    #[tokio::test]
    async fn without_batching_every_write_goes_straight_to_the_socket() {
        let (mut io, mut peer) = pair(false).await;
        let wakes = Arc::new(Wakes::default());
        one_poll(&mut io, &Waker::from(Arc::clone(&wakes)));
        assert_eq!(io.buffered(), 0);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        assert_eq!(received(&mut peer, 12).await, b"first second");
    }
}
