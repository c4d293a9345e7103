//! Process metrics with the standard Prometheus names (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, ...), read from `/proc/self` at scrape time.
//!
//! Reading on demand costs a few small file reads per scrape and nothing per request. Where
//! `/proc` is missing (not Linux, or a sandbox without it) the values are left out silently, so
//! the endpoint keeps working.

use std::fs;

use super::registry::{CollectedValue, Collector};
use super::text::MetricType;

/// Clock ticks per second used by `/proc/<pid>/stat`. The kernel reports these times in
/// `USER_HZ`, which is 100 on every architecture Linux supports for user space; reading it via
/// `sysconf` would need `libc` (and `unsafe`) for a constant.
const USER_HZ: f64 = 100.0;

/// Reads process statistics from `/proc/self`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn collect(&self, out: &mut Vec<CollectedValue>) {
        let gauge = |name, help, value| CollectedValue {
            name,
            help,
            kind: MetricType::Gauge,
            value,
        };
        if let Some(stat) = fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(parse_stat)
        {
            out.push(CollectedValue {
                name: "process_cpu_seconds_total",
                help: "Total user and system CPU time spent in seconds.",
                kind: MetricType::Counter,
                value: (stat.utime_ticks + stat.stime_ticks) as f64 / USER_HZ,
            });
            out.push(gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stat.vsize_bytes as f64,
            ));
            if let Some(boot) = fs::read_to_string("/proc/stat")
                .ok()
                .as_deref()
                .and_then(parse_boot_time)
            {
                out.push(gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    boot as f64 + stat.start_ticks as f64 / USER_HZ,
                ));
            }
        }
        if let Some(rss) = fs::read_to_string("/proc/self/status")
            .ok()
            .as_deref()
            .and_then(parse_rss_bytes)
        {
            out.push(gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss as f64,
            ));
        }
        if let Ok(entries) = fs::read_dir("/proc/self/fd") {
            out.push(gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                entries.count() as f64,
            ));
        }
        if let Some(max) = fs::read_to_string("/proc/self/limits")
            .ok()
            .as_deref()
            .and_then(parse_max_fds)
        {
            out.push(gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            ));
        }
    }
}

/// The fields of `/proc/self/stat` that are exposed.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    utime_ticks: u64,
    stime_ticks: u64,
    start_ticks: u64,
    vsize_bytes: u64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    // The command name (field 2) is in parentheses and may itself contain spaces and
    // parentheses, so split after the last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 (state) of proc(5), so field N is `fields[N - 3]`.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        start_ticks: field(22)?,
        vsize_bytes: field(23)?,
    })
}

fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn parse_rss_bytes(text: &str) -> Option<u64> {
    let value = text.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = value.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

fn parse_max_fds(text: &str) -> Option<f64> {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    // Columns: soft limit, hard limit, unit. The soft limit is what applies.
    match line.split_whitespace().next()? {
        "unlimited" => Some(f64::INFINITY),
        soft => soft.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_command_name() {
        let text = "1234 (we(ird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 \
                    8 0 12345 104857600 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 \
                    0 0 0 0 0 0";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                utime_ticks: 250,
                stime_ticks: 50,
                start_ticks: 12345,
                vsize_bytes: 104_857_600,
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_limits_and_boot_time() {
        assert_eq!(
            parse_rss_bytes("Name:\tx\nVmRSS:\t    2048 kB\nThreads: 3\n"),
            Some(2048 * 1024)
        );
        assert_eq!(parse_rss_bytes("Name:\tx\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 1048576              files\n";
        assert_eq!(parse_max_fds(limits), Some(1024.0));
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn collects_on_linux() {
        let mut out = Vec::new();
        ProcessCollector.collect(&mut out);
        if std::path::Path::new("/proc/self/stat").exists() {
            let names: Vec<_> = out.iter().map(|v| v.name).collect();
            for name in [
                "process_cpu_seconds_total",
                "process_virtual_memory_bytes",
                "process_resident_memory_bytes",
                "process_open_fds",
                "process_max_fds",
                "process_start_time_seconds",
            ] {
                assert!(names.contains(&name), "{name} missing from {names:?}");
            }
            assert!(out.iter().all(|v| v.value >= 0.0));
        }
    }
}
