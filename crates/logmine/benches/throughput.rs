//! Mining throughput: lines per second through [`Miner::add`] on one core.
//!
//! Input: the `Content` column of the eight Loghub 2k samples, concatenated (16 000 lines of
//! HDFS, Hadoop, Spark, Zookeeper, BGL, HPC, Thunderbird and Windows logs). Each iteration
//! starts from an empty miner, so template creation and generalisation are part of the
//! measurement, not only the steady state. The target is 500 000 lines/s in release mode.
//!
//! - `cold`: a fresh miner per pass over the 16 000 lines (every template is created);
//! - `warm`: a miner that has already seen the lines once (the steady state of a long-running
//!   agent: every line matches an existing template).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_main, Criterion, Throughput};
use flexgate_logmine::eval::{self, DRAIN_GROUPING_ACCURACY};
use flexgate_logmine::{Miner, MinerConfig};

fn lines() -> Vec<String> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/loghub-2k"
    ));
    let mut lines = Vec::new();
    for (name, _) in DRAIN_GROUPING_ACCURACY {
        let path = dir.join(name).join(format!("{name}_2k.log_structured.csv"));
        assert!(
            path.exists(),
            "Loghub sample missing: {} not found. The benchmark needs the Loghub 2k samples in \
             shared/data/loghub-2k next to the repository (see docs/logmine.md).",
            path.display()
        );
        let records = eval::read_loghub(&path).unwrap_or_else(|e| panic!("{e}"));
        lines.extend(records.into_iter().map(|r| r.content));
    }
    lines
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let mut group = c.benchmark_group("logmine");
    group.throughput(Throughput::Elements(lines.len() as u64));

    group.bench_function("cold", |b| {
        b.iter(|| {
            let mut miner = Miner::new(MinerConfig::default());
            for line in &lines {
                black_box(miner.add(black_box(line)));
            }
            miner.len()
        })
    });

    let mut warm = Miner::new(MinerConfig::default());
    for line in &lines {
        warm.add(line);
    }
    group.bench_function("warm", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(warm.add(black_box(line)));
            }
        })
    });

    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
