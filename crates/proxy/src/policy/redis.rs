//! A small Redis client for the shared rate limits: RESP2 over one multiplexed TCP connection.
//!
//! # Design
//!
//! One background task owns the connection. Callers encode their command, hand it to the task
//! through a bounded channel together with a one-shot reply slot, and wait for the reply with
//! their own deadline. The task writes every command queued at that moment in one `write`
//! (pipelining) and remembers the reply slots in order; Redis answers a connection's commands in
//! the order it received them, so each reply read completes the oldest slot. One connection is
//! enough: a rate-limit decision is one short script call, Redis executes commands one at a time
//! anyway, and pipelining keeps the connection busy without a pool's bookkeeping.
//!
//! Nothing a request does ever waits for a connection to be made:
//!
//! - while there is no connection, [`RedisClient::eval_script`] fails at once
//!   ([`RedisError::NotConnected`]) and the caller applies its fallback;
//! - when the channel is full (Redis far behind), the command is refused at once;
//! - the caller bounds the wait for a reply with `redis.timeout`; a reply arriving later is
//!   dropped.
//!
//! The task connects (TCP, then `AUTH` and `SELECT` when the URL asks for them, then
//! `SCRIPT LOAD`) within [`connect_timeout`], and reconnects after any failure with exponential
//! backoff (50 ms doubling to 2 s, with jitter so that a fleet of gateways does not reconnect in
//! lockstep). A connection whose oldest unanswered command has waited longer than
//! [`stall_timeout`] is dropped and made again: that is how a Redis that stopped answering without
//! closing the socket (a network partition, a frozen process) is noticed.
//!
//! Scripts run with `EVALSHA`; the digest is computed locally, the script is loaded on every new
//! connection, and a `NOSCRIPT` reply (the script cache was flushed) is retried once with `EVAL`,
//! which also caches it again.
//!
//! The task stops when the last handle to the client is dropped, so a policy that is replaced on
//! reload takes its connection with it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use flexgate_config::RedisSettings;
use flexgate_telemetry::metrics::Gauge;

/// Commands that may wait for the connection task at once; more are refused rather than queued.
const QUEUE: usize = 4096;
/// Most bytes of queued commands written in one go.
const BATCH_BYTES: usize = 64 * 1024;
/// Nesting limit of reply arrays (our replies are flat; this only bounds a broken server).
const MAX_DEPTH: usize = 4;
/// Largest bulk string or array accepted in a reply (ours are a few bytes).
const MAX_LEN: usize = 16 * 1024 * 1024;
/// Reconnect backoff: first wait and ceiling.
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How long making a connection (TCP connect and the handshake) may take. It happens in the
/// background where no request waits for it, so it may exceed `redis.timeout`; a remote Redis
/// across a slow link would otherwise never be reached.
pub(crate) fn connect_timeout(call_timeout: Duration) -> Duration {
    call_timeout.max(Duration::from_secs(1))
}

/// How long the oldest command may go unanswered before the connection is considered dead.
/// Well above the per-call timeout, so a Redis that is merely slow is not made slower by
/// reconnects.
pub(crate) fn stall_timeout(call_timeout: Duration) -> Duration {
    call_timeout.saturating_mul(20).max(Duration::from_secs(2))
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`: the command failed; the text starts with the error kind.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$3\r\nfoo`.
    Bulk(Bytes),
    /// `$-1` or `*-1`.
    Nil,
    /// `*2\r\n...`.
    Array(Vec<Value>),
}

/// Why a call produced no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedisError {
    /// There is no connection at the moment (reconnecting in the background).
    NotConnected,
    /// Too many commands are waiting already.
    Overloaded,
    /// The connection broke before the reply arrived.
    ConnectionLost,
    /// Redis answered with an error.
    Reply(String),
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::NotConnected => f.write_str("not connected"),
            RedisError::Overloaded => f.write_str("too many commands waiting"),
            RedisError::ConnectionLost => f.write_str("connection lost"),
            RedisError::Reply(e) => write!(f, "error reply: {e}"),
        }
    }
}

/// Where and how to connect, from `redis://[[user]:password@]host[:port][/db]`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Target {
    host: String,
    port: u16,
    db: Option<u32>,
    user: Option<String>,
    password: Option<String>,
}

impl fmt::Debug for Target {
    // Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Target {
    /// Parses a `redis://` URL.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| "redis.url: only redis:// URLs are supported".to_owned())?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (
                    (!user.is_empty())
                        .then(|| percent_decode(user))
                        .transpose()?,
                    Some(percent_decode(password)?),
                ),
                None => (None, Some(percent_decode(info)?)),
            },
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "redis.url: unclosed `[` in the host".to_owned())?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err("redis.url: no host".into());
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("redis.url: `{p}` is not a port"))?,
            None => 6379,
        };
        let db = match path.trim_end_matches('/') {
            "" => None,
            db => Some(
                db.parse::<u32>()
                    .map_err(|_| format!("redis.url: `/{db}` is not a database number"))?,
            ),
        };
        Ok(Target {
            host: host.to_owned(),
            port,
            db,
            user,
            password,
        })
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "redis.url: invalid %-escape in the credentials".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "redis.url: credentials are not UTF-8".to_owned())
}

/// A Lua script with its SHA-1 digest (what `EVALSHA` names it by).
pub(crate) struct Script {
    source: &'static str,
    sha1: String,
}

impl Script {
    /// Computes the digest of `source`.
    pub(crate) fn new(source: &'static str) -> Script {
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, source.as_bytes());
        Script {
            source,
            sha1: hex(digest.as_ref()),
        }
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Encodes a command as a RESP array of bulk strings.
pub(crate) fn encode(args: &[&[u8]]) -> Vec<u8> {
    let len: usize = args.iter().map(|a| a.len() + 16).sum();
    let mut out = Vec::with_capacity(len + 16);
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A reply that is not valid RESP2 (the connection is dropped: its framing is lost).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ProtocolError(&'static str);

/// Parses one reply from the start of `buf`: `Ok(None)` when more bytes are needed, otherwise
/// the reply and the number of bytes it took.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    parse_at(buf, 0, 0)
}

fn parse_at(
    buf: &[u8],
    start: usize,
    depth: usize,
) -> Result<Option<(Value, usize)>, ProtocolError> {
    let Some(line_end) = find_crlf(buf, start) else {
        return Ok(None);
    };
    let Some(&kind) = buf.get(start) else {
        return Ok(None);
    };
    let line = &buf[start + 1..line_end];
    let after = line_end + 2;
    let text = || std::str::from_utf8(line).map_err(|_| ProtocolError("reply line is not UTF-8"));
    let number = || -> Result<i64, ProtocolError> {
        text()?
            .parse::<i64>()
            .map_err(|_| ProtocolError("invalid number in reply"))
    };
    match kind {
        b'+' => Ok(Some((Value::Simple(text()?.to_owned()), after - start))),
        b'-' => Ok(Some((Value::Error(text()?.to_owned()), after - start))),
        b':' => Ok(Some((Value::Int(number()?), after - start))),
        b'$' => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Value::Nil, after - start)));
            }
            let len = usize::try_from(len).map_err(|_| ProtocolError("invalid bulk length"))?;
            if len > MAX_LEN {
                return Err(ProtocolError("bulk reply too large"));
            }
            if buf.len() < after + len + 2 {
                return Ok(None);
            }
            if &buf[after + len..after + len + 2] != b"\r\n" {
                return Err(ProtocolError("bulk reply not terminated by CRLF"));
            }
            let value = Bytes::copy_from_slice(&buf[after..after + len]);
            Ok(Some((Value::Bulk(value), after + len + 2 - start)))
        }
        b'*' => {
            let count = number()?;
            if count < 0 {
                return Ok(Some((Value::Nil, after - start)));
            }
            if depth >= MAX_DEPTH {
                return Err(ProtocolError("reply nested too deeply"));
            }
            let count =
                usize::try_from(count).map_err(|_| ProtocolError("invalid array length"))?;
            if count > MAX_LEN {
                return Err(ProtocolError("array reply too large"));
            }
            let mut items = Vec::with_capacity(count.min(64));
            let mut pos = after;
            for _ in 0..count {
                match parse_at(buf, pos, depth + 1)? {
                    Some((item, used)) => {
                        items.push(item);
                        pos += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Value::Array(items), pos - start)))
        }
        _ => Err(ProtocolError("unknown reply type")),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

/// Values of [`State::health`]. Starting unknown rather than down makes a Redis that is
/// unreachable from the start log its warning like one that goes away later.
const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// One command on its way to the connection task.
struct Job {
    frame: Vec<u8>,
    reply: oneshot::Sender<Result<Value, RedisError>>,
}

/// Connection state shared by the handles and the task.
struct State {
    target: Target,
    /// A connection is established and its handshake succeeded: commands are accepted.
    connected: AtomicBool,
    /// Whether Redis answers: [`UNKNOWN`] until the first exchange, then [`UP`] or [`DOWN`] by
    /// the last exchange (handshake or call).
    health: AtomicU8,
    /// `flexgate_rate_limit_redis_up`, 1 while `health` is up, 0 otherwise.
    up_gauge: Arc<Gauge>,
}

impl State {
    /// Records whether Redis answers, logging and exporting changes only.
    fn set_healthy(&self, healthy: bool, why: &dyn fmt::Display) {
        let new = if healthy { UP } else { DOWN };
        // Read before writing: every decision reports, and a write per request would make the
        // cores fight over this cache line.
        if self.health.load(Ordering::Acquire) == new
            || self.health.swap(new, Ordering::AcqRel) == new
        {
            return;
        }
        // From the state rather than `healthy`, so that two racing transitions cannot leave the
        // gauge disagreeing with the state.
        self.up_gauge
            .set(i64::from(self.health.load(Ordering::Acquire) == UP));
        if healthy {
            info!(message = "Rate-limit Redis is reachable; shared limits are in force.", event = "rate_limit.redis_up", redis = %self.target);
        } else {
            warn!(message = "Rate-limit Redis is unavailable; limits follow redis.on_unavailable until it is back.", event = "rate_limit.redis_unavailable", redis = %self.target, reason = %why);
        }
    }
}

/// A handle to the connection; clones share it.
#[derive(Clone)]
pub(crate) struct RedisClient {
    state: Arc<State>,
    jobs: mpsc::Sender<Job>,
    /// The task's end of the channel until the task is started: the client may be built outside
    /// the async runtime, and then starts on its first call.
    idle: Arc<Mutex<Option<Startup>>>,
    started: Arc<AtomicBool>,
}

/// What the connection task needs, kept until it starts.
struct Startup {
    jobs: mpsc::Receiver<Job>,
    script: Arc<Script>,
    call_timeout: Duration,
}

impl RedisClient {
    /// A client for `settings` that keeps `script` loaded, exporting its state through
    /// `up_gauge`. Starts connecting at once when called inside the async runtime.
    pub(crate) fn new(
        settings: &RedisSettings,
        script: Arc<Script>,
        up_gauge: Arc<Gauge>,
    ) -> Result<RedisClient, String> {
        let target = Target::parse(&settings.url)?;
        let (jobs, receiver) = mpsc::channel(QUEUE);
        up_gauge.set(0);
        let client = RedisClient {
            state: Arc::new(State {
                target,
                connected: AtomicBool::new(false),
                health: AtomicU8::new(UNKNOWN),
                up_gauge,
            }),
            jobs,
            idle: Arc::new(Mutex::new(Some(Startup {
                jobs: receiver,
                script,
                call_timeout: settings.timeout.get(),
            }))),
            started: Arc::new(AtomicBool::new(false)),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            client.start();
        }
        Ok(client)
    }

    /// Starts the connection task if it is not running yet. Must run inside the runtime.
    fn start(&self) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let startup = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(startup) = startup {
            self.started.store(true, Ordering::Release);
            tokio::spawn(run(self.state.clone(), startup));
        }
    }

    /// Whether commands are accepted now (a connection is up).
    pub(crate) fn is_connected(&self) -> bool {
        self.start();
        self.state.connected.load(Ordering::Acquire)
    }

    /// Whether Redis answered the last exchange.
    pub(crate) fn is_healthy(&self) -> bool {
        self.state.health.load(Ordering::Acquire) == UP
    }

    /// Records the outcome of a call made through this client (a timeout is only visible to
    /// the caller).
    pub(crate) fn report(&self, ok: bool, why: &dyn fmt::Display) {
        self.state.set_healthy(ok, why);
    }

    /// Sends one encoded command and waits for its reply (the caller bounds the wait).
    async fn call(&self, frame: Vec<u8>) -> Result<Value, RedisError> {
        if !self.is_connected() {
            return Err(RedisError::NotConnected);
        }
        let (reply, receive) = oneshot::channel();
        self.jobs
            .try_send(Job { frame, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => RedisError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => RedisError::NotConnected,
            })?;
        match receive.await {
            Ok(Ok(Value::Error(e))) => Err(RedisError::Reply(e)),
            Ok(result) => result,
            Err(_) => Err(RedisError::ConnectionLost),
        }
    }

    /// Runs `script` with `EVALSHA`, falling back to `EVAL` when Redis does not have it cached.
    pub(crate) async fn eval_script(
        &self,
        script: &Script,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<Value, RedisError> {
        let frame = |command: &'static [u8], body: &[u8]| {
            let count = keys.len().to_string();
            let mut parts: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
            parts.push(command);
            parts.push(body);
            parts.push(count.as_bytes());
            parts.extend_from_slice(keys);
            parts.extend_from_slice(args);
            encode(&parts)
        };
        match self.call(frame(b"EVALSHA", script.sha1.as_bytes())).await {
            Err(RedisError::Reply(e)) if e.starts_with("NOSCRIPT") => {
                self.call(frame(b"EVAL", script.source.as_bytes())).await
            }
            other => other,
        }
    }
}

/// Reconnect waits: doubling from [`BACKOFF_BASE`] to [`BACKOFF_MAX`], each drawn between half
/// and all of the current step.
struct Backoff {
    step: Duration,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(BACKOFF_MAX);
        let half = step / 2;
        half + half.mul_f64(fastrand::f64())
    }

    fn reset(&mut self) {
        self.step = BACKOFF_BASE;
    }
}

/// The connection task: connect, serve, and reconnect until the client is gone.
async fn run(state: Arc<State>, startup: Startup) {
    let Startup {
        mut jobs,
        script,
        call_timeout,
    } = startup;
    let mut backoff = Backoff { step: BACKOFF_BASE };
    loop {
        let connecting = tokio::time::timeout(
            connect_timeout(call_timeout),
            connect(&state.target, &script),
        );
        tokio::pin!(connecting);
        // Commands that arrive while connecting are refused at once, never queued behind the
        // handshake (callers checked `connected` just before; this is only the race).
        let connected = loop {
            tokio::select! {
                result = &mut connecting => break result,
                job = jobs.recv() => match job {
                    Some(job) => {
                        let _ = job.reply.send(Err(RedisError::NotConnected));
                    }
                    None => return,
                },
            }
        };
        let failure = match connected {
            Ok(Ok(stream)) => {
                backoff.reset();
                state.connected.store(true, Ordering::Release);
                state.set_healthy(true, &"connected");
                let outcome = serve(stream, &mut jobs, stall_timeout(call_timeout)).await;
                state.connected.store(false, Ordering::Release);
                match outcome {
                    Ok(()) => return,
                    Err(reason) => reason,
                }
            }
            Ok(Err(reason)) => reason,
            Err(_) => format!("no connection within {:?}", connect_timeout(call_timeout)),
        };
        state.set_healthy(false, &failure);
        let wait = tokio::time::sleep(backoff.next());
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                job = jobs.recv() => match job {
                    Some(job) => {
                        let _ = job.reply.send(Err(RedisError::NotConnected));
                    }
                    None => return,
                },
            }
        }
    }
}

/// Connects and runs the handshake; the stream is ready for commands.
async fn connect(target: &Target, script: &Script) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // Commands are small and latency-bound.
    let _ = stream.set_nodelay(true);
    let mut frames = Vec::new();
    let mut expected = 0;
    if let Some(password) = &target.password {
        match &target.user {
            Some(user) => frames.extend(encode(&[b"AUTH", user.as_bytes(), password.as_bytes()])),
            None => frames.extend(encode(&[b"AUTH", password.as_bytes()])),
        }
        expected += 1;
    }
    if let Some(db) = target.db {
        frames.extend(encode(&[b"SELECT", db.to_string().as_bytes()]));
        expected += 1;
    }
    frames.extend(encode(&[b"SCRIPT", b"LOAD", script.source.as_bytes()]));
    expected += 1;
    stream
        .write_all(&frames)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let mut buf = BytesMut::with_capacity(512);
    let mut replies = Vec::with_capacity(expected);
    while replies.len() < expected {
        match parse(&buf) {
            Ok(Some((value, used))) => {
                buf.advance(used);
                replies.push(value);
                continue;
            }
            Ok(None) => {}
            Err(ProtocolError(e)) => return Err(format!("handshake: {e}")),
        }
        let read = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        if read == 0 {
            return Err("handshake: connection closed".into());
        }
    }
    for reply in &replies {
        if let Value::Error(e) = reply {
            return Err(format!("handshake: {e}"));
        }
    }
    if let Some(Value::Bulk(sha)) = replies.last() {
        if sha.as_ref() != script.sha1.as_bytes() {
            // EVALSHA would then fail with NOSCRIPT every time and fall back to EVAL: correct
            // but slower, so say so.
            warn!(message = "Redis reports another digest for the rate-limit script.", redis = %target);
        }
    }
    Ok(stream)
}

/// Serves one connection until it fails (`Err` with the reason) or the client is gone (`Ok`).
async fn serve(
    stream: TcpStream,
    jobs: &mut mpsc::Receiver<Job>,
    stall: Duration,
) -> Result<(), String> {
    let (mut reader, mut writer) = stream.into_split();
    let mut pending: VecDeque<(oneshot::Sender<Result<Value, RedisError>>, Instant)> =
        VecDeque::new();
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    let mut watchdog = tokio::time::interval(stall / 4);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            job = jobs.recv() => {
                let Some(job) = job else { break Ok(()) };
                out.clear();
                let now = Instant::now();
                out.extend_from_slice(&job.frame);
                pending.push_back((job.reply, now));
                // Pipelining: everything queued by now goes out in the same write.
                while out.len() < BATCH_BYTES {
                    match jobs.try_recv() {
                        Ok(job) => {
                            out.extend_from_slice(&job.frame);
                            pending.push_back((job.reply, now));
                        }
                        Err(_) => break,
                    }
                }
                if let Err(e) = writer.write_all(&out).await {
                    break Err(format!("write: {e}"));
                }
            }
            read = reader.read_buf(&mut buf) => {
                match read {
                    Ok(0) => break Err("connection closed by Redis".into()),
                    Err(e) => break Err(format!("read: {e}")),
                    Ok(_) => {}
                }
                if let Err(reason) = deliver(&mut buf, &mut pending) {
                    break Err(reason);
                }
            }
            _ = watchdog.tick() => {
                if pending.front().is_some_and(|(_, since)| since.elapsed() > stall) {
                    break Err(format!("no reply for {stall:?}"));
                }
            }
        }
    };
    // Dropping the reply slots tells every waiting caller the connection is gone.
    for (reply, _) in pending {
        let _ = reply.send(Err(RedisError::ConnectionLost));
    }
    result
}

/// Completes the oldest waiting calls with the replies complete in `buf`.
fn deliver(
    buf: &mut BytesMut,
    pending: &mut VecDeque<(oneshot::Sender<Result<Value, RedisError>>, Instant)>,
) -> Result<(), String> {
    loop {
        match parse(buf) {
            Ok(Some((value, used))) => {
                buf.advance(used);
                let Some((reply, _)) = pending.pop_front() else {
                    return Err("reply without a command".into());
                };
                // The caller may have given up (timeout); its reply is dropped.
                let _ = reply.send(Ok(value));
            }
            Ok(None) => return Ok(()),
            Err(ProtocolError(e)) => return Err(format!("protocol: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_reply_type() {
        let cases: [(&[u8], Value); 7] = [
            (b"+OK\r\n", Value::Simple("OK".into())),
            (
                b"-NOSCRIPT No matching script\r\n",
                Value::Error("NOSCRIPT No matching script".into()),
            ),
            (b":-42\r\n", Value::Int(-42)),
            (b"$3\r\nfoo\r\n", Value::Bulk(Bytes::from_static(b"foo"))),
            (b"$-1\r\n", Value::Nil),
            (b"*-1\r\n", Value::Nil),
            (
                b"*3\r\n:1\r\n$0\r\n\r\n*1\r\n:2\r\n",
                Value::Array(vec![
                    Value::Int(1),
                    Value::Bulk(Bytes::new()),
                    Value::Array(vec![Value::Int(2)]),
                ]),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), Ok(Some((expected, input.len()))), "{input:?}");
            // Every strict prefix asks for more bytes instead of failing or guessing.
            for cut in 0..input.len() {
                assert_eq!(parse(&input[..cut]), Ok(None), "{:?}", &input[..cut]);
            }
        }
    }

    #[test]
    fn parse_leaves_following_replies() {
        let input = b":1\r\n:2\r\n";
        assert_eq!(parse(input), Ok(Some((Value::Int(1), 4))));
    }

    #[test]
    fn rejects_broken_replies() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":12a\r\n").is_err());
        assert!(parse(b"$3\r\nfooXY").is_err());
        assert!(parse(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n").is_err());
        assert!(parse(b"$999999999999\r\n").is_err());
    }

    #[test]
    fn encodes_commands() {
        assert_eq!(
            encode(&[b"GET", b"a b"]),
            b"*2\r\n$3\r\nGET\r\n$3\r\na b\r\n".to_vec()
        );
    }

    #[test]
    fn parses_urls() {
        let t = Target::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.db),
            ("127.0.0.1", 6380, Some(2))
        );
        assert_eq!((t.user, t.password), (None, None));
        let t = Target::parse("redis://localhost").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db), ("localhost", 6379, None));
        let t = Target::parse("redis://:p%40ss@[::1]:7000/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 7000));
        assert_eq!(t.password.as_deref(), Some("p@ss"));
        assert_eq!(t.to_string(), "[::1]:7000");
        let t = Target::parse("redis://user:secret@127.0.0.1").unwrap();
        assert_eq!(t.user.as_deref(), Some("user"));
        assert!(!format!("{t:?}").contains("secret"));
        for bad in [
            "http://127.0.0.1",
            "redis://",
            "redis://127.0.0.1:x",
            "redis://127.0.0.1/db",
            "redis://[::1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn script_digest_is_sha1_hex() {
        // `printf %s 'return 1' | sha1sum`
        assert_eq!(
            Script::new("return 1").sha1,
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn backoff_grows_to_its_ceiling() {
        let mut b = Backoff { step: BACKOFF_BASE };
        let waits: Vec<Duration> = (0..10).map(|_| b.next()).collect();
        assert!(waits[0] >= BACKOFF_BASE / 2 && waits[0] <= BACKOFF_BASE);
        assert!(waits.iter().all(|w| *w <= BACKOFF_MAX));
        assert!(waits[9] >= BACKOFF_MAX / 2);
        b.reset();
        assert!(b.next() <= BACKOFF_BASE);
    }
}
