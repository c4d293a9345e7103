//! Reading back the access log a test proxy writes to a file.

use std::path::PathBuf;
use std::time::Duration;

use flexgate_proxy::ProxyHandle;
use serde_json::Value;
use tempfile::TempDir;

use super::eventually;

/// A file in a fresh temporary directory for the access log.
pub(crate) struct AccessLogFile {
    _dir: TempDir,
    path: PathBuf,
}

impl AccessLogFile {
    /// A new, not yet existing, log file.
    pub(crate) fn new() -> AccessLogFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        AccessLogFile { _dir: dir, path }
    }

    /// The path, for `observability.access_log.output`.
    pub(crate) fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// The raw text written so far, after the proxy's writer has flushed its queue.
    pub(crate) fn text(&self, proxy: &ProxyHandle) -> String {
        proxy.shared().access_log.flush();
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// Every line written so far, parsed; panics on a line that is not a JSON object.
    pub(crate) fn lines(&self, proxy: &ProxyHandle) -> Vec<Value> {
        self.text(proxy)
            .lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("access log line is not JSON ({e}): {line}"));
                assert!(
                    value.is_object(),
                    "access log line is not an object: {line}"
                );
                value
            })
            .collect()
    }

    /// Waits for the first line that satisfies `wanted` and returns it.
    ///
    /// A line is written when the response body has ended on the proxy's side, which can be a
    /// moment after the client has read it, so this polls.
    pub(crate) async fn wait_for(
        &self,
        proxy: &ProxyHandle,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut found = None;
        eventually("an access log line", Duration::from_secs(5), || {
            found = self.lines(proxy).into_iter().find(&wanted);
            std::future::ready(found.is_some())
        })
        .await;
        found.unwrap()
    }
}
