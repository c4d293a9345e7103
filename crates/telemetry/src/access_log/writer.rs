//! [`AccessLogger`]: serializes records to JSON lines on the calling thread and hands them to a
//! background writer thread through a bounded channel.
//!
//! The request path must never wait for a disk or a pipe, so when the channel is full the line is
//! dropped and counted (`flexgate_access_log_dropped_total`) instead of blocking. The writer
//! batches lines in a buffer and flushes whenever the channel is momentarily empty, so lines
//! appear promptly at low traffic and with few system calls at high traffic.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use flexgate_config::AccessLog;

use super::record::AccessRecord;
use crate::metrics::Counter;

/// Lines that may wait for the writer before new ones are dropped.
pub const CHANNEL_CAPACITY: usize = 8192;

/// Size of the writer's output buffer.
const WRITE_BUFFER: usize = 64 * 1024;

/// Typical serialized line size, to allocate each line once.
const LINE_CAPACITY: usize = 768;

enum Message {
    /// One complete line, newline included.
    Line(Vec<u8>),
    /// Flush the output, then answer.
    Flush(SyncSender<()>),
}

/// Counters shared with the writer thread.
#[derive(Debug, Default)]
struct Stats {
    written: AtomicU64,
    write_errors: AtomicU64,
}

/// Writes access-log lines in the background. Dropping it writes the lines still queued and
/// stops the writer thread.
#[derive(Debug)]
pub struct AccessLogger {
    /// `None` when the access log is disabled.
    tx: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
    dropped: AtomicU64,
    dropped_counter: OnceLock<Arc<Counter>>,
}

impl AccessLogger {
    /// A logger for the configured output: `stdout`, `stderr`, or a file path (opened for
    /// appending, created if missing; relative paths are relative to the working directory).
    /// With `enabled: false`, a logger that discards everything.
    ///
    /// # Errors
    ///
    /// If the file cannot be opened or the writer thread cannot be started.
    pub fn new(config: &AccessLog) -> io::Result<AccessLogger> {
        if !config.enabled {
            return Ok(AccessLogger::disabled());
        }
        match config.output.as_str() {
            "stdout" => AccessLogger::to_writer(io::stdout()),
            "stderr" => AccessLogger::to_writer(io::stderr()),
            path => {
                let file = OpenOptions::new().create(true).append(true).open(path)?;
                AccessLogger::to_writer(file)
            }
        }
    }

    /// A logger that discards every record (the access log is disabled).
    pub fn disabled() -> AccessLogger {
        AccessLogger {
            tx: None,
            thread: None,
            stats: Arc::default(),
            dropped: AtomicU64::new(0),
            dropped_counter: OnceLock::new(),
        }
    }

    /// A logger writing to `output` from a background thread.
    ///
    /// # Errors
    ///
    /// If the writer thread cannot be started.
    pub fn to_writer(output: impl Write + Send + 'static) -> io::Result<AccessLogger> {
        AccessLogger::with_capacity(output, CHANNEL_CAPACITY)
    }

    /// A logger writing to memory, and the sink to read the lines back from (for tests).
    ///
    /// # Panics
    ///
    /// If the writer thread cannot be started.
    pub fn to_memory() -> (AccessLogger, MemorySink) {
        let sink = MemorySink::default();
        let logger = AccessLogger::to_writer(sink.clone())
            .unwrap_or_else(|e| panic!("cannot start the access log writer: {e}"));
        (logger, sink)
    }

    /// A logger with a channel of `capacity` lines (tests use a small one to exercise drops).
    ///
    /// # Errors
    ///
    /// If the writer thread cannot be started.
    pub fn with_capacity(
        output: impl Write + Send + 'static,
        capacity: usize,
    ) -> io::Result<AccessLogger> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let stats = Arc::new(Stats::default());
        let thread = std::thread::Builder::new()
            .name("flexgate-access-log".into())
            .spawn({
                let stats = stats.clone();
                move || run_writer(rx, BufWriter::with_capacity(WRITE_BUFFER, output), &stats)
            })?;
        Ok(AccessLogger {
            tx: Some(tx),
            thread: Some(thread),
            stats,
            dropped: AtomicU64::new(0),
            dropped_counter: OnceLock::new(),
        })
    }

    /// Whether records are written at all.
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Counts drops in `counter` too (normally `flexgate_access_log_dropped_total`). Drops that
    /// happened before are added to it. Only the first counter set is used.
    pub fn set_dropped_counter(&self, counter: Arc<Counter>) {
        if self.dropped_counter.set(counter.clone()).is_ok() {
            counter.add(self.dropped.load(Ordering::Relaxed));
        }
    }

    /// Queues one line for `record`. Never blocks: if the writer is behind by
    /// [`CHANNEL_CAPACITY`] lines, the line is dropped and counted.
    pub fn log(&self, record: &AccessRecord<'_>) {
        let Some(tx) = &self.tx else {
            return;
        };
        let mut line = Vec::with_capacity(LINE_CAPACITY);
        if serde_json::to_writer(&mut line, record).is_err() {
            // Serializing borrowed strings and numbers into a Vec does not fail; count it as a
            // drop rather than panic if it ever does.
            self.count_drop();
            return;
        }
        line.push(b'\n');
        match tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.count_drop(),
        }
    }

    /// Blocks until every line queued before this call is written and the output flushed.
    pub fn flush(&self) {
        let Some(tx) = &self.tx else {
            return;
        };
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        // Waiting for room in the channel is fine here: flushing is for shutdown and tests.
        if tx.send(Message::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv();
        }
    }

    /// Lines dropped because the writer was behind (or had stopped).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Lines handed to the output so far.
    pub fn written(&self) -> u64 {
        self.stats.written.load(Ordering::Relaxed)
    }

    /// Writes or flushes that failed (a full disk, a closed pipe); those lines are lost.
    pub fn write_errors(&self) -> u64 {
        self.stats.write_errors.load(Ordering::Relaxed)
    }

    fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(counter) = self.dropped_counter.get() {
            counter.inc();
        }
    }
}

impl Drop for AccessLogger {
    fn drop(&mut self) {
        // Closing the channel lets the writer drain what is queued, flush and exit.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_writer(rx: Receiver<Message>, mut out: BufWriter<impl Write>, stats: &Stats) {
    let handle = |message: Message, out: &mut BufWriter<_>| match message {
        Message::Line(line) => match out.write_all(&line) {
            Ok(()) => {
                stats.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                stats.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        },
        Message::Flush(ack) => {
            flush(out, stats);
            let _ = ack.send(());
        }
    };
    // Poll instead of blocking on the channel: a receiver parked in `recv` must be woken by every
    // send, which costs the request path a futex call and the proxy's CPU a context switch per
    // line. Sleeping between drains lets lines accumulate and go out in one write, at the price of
    // up to `POLL_INTERVAL` of delay before a line reaches the output.
    loop {
        match rx.try_recv() {
            Ok(message) => handle(message, &mut out),
            Err(TryRecvError::Empty) => {
                flush(&mut out, stats);
                std::thread::sleep(POLL_INTERVAL);
            }
            Err(TryRecvError::Disconnected) => {
                flush(&mut out, stats);
                return;
            }
        }
    }
}

/// Longest time a queued line waits before the writer picks it up.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

fn flush(out: &mut impl Write, stats: &Stats) {
    if out.flush().is_err() {
        stats.write_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// An in-memory access-log output whose lines tests can read back.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl MemorySink {
    /// Everything written so far.
    pub fn contents(&self) -> String {
        let bytes = self.bytes.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The complete lines written so far, without their newlines.
    pub fn lines(&self) -> Vec<String> {
        self.contents().lines().map(str::to_owned).collect()
    }

    /// The lines parsed as JSON (lines that do not parse are skipped).
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Write for MemorySink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
