//! Saving and loading: a reloaded miner maps the same lines to the same ids.

use flexgate_logmine::eval::DRAIN_GROUPING_ACCURACY;
use flexgate_logmine::{ClusterId, Miner, MinerConfig};

use crate::loghub::load;

#[test]
fn a_reloaded_miner_continues_exactly_like_the_original() {
    for (name, _) in DRAIN_GROUPING_ACCURACY {
        let lines: Vec<String> = load(name).into_iter().map(|r| r.content).collect();
        let (first, second) = lines.split_at(lines.len() / 2);
        let mut original = Miner::new(MinerConfig::default());
        for line in first {
            original.add(line);
        }
        let saved = original.save();
        let mut restored = Miner::load(&saved).unwrap();
        assert_eq!(
            restored.save(),
            saved,
            "{name}: load then save is the identity"
        );
        for line in first {
            assert_eq!(
                restored.match_line(line),
                original.match_line(line),
                "{name}: {line}"
            );
        }
        let a: Vec<ClusterId> = second.iter().map(|l| original.add(l)).collect();
        let b: Vec<ClusterId> = second.iter().map(|l| restored.add(l)).collect();
        assert_eq!(
            a, b,
            "{name}: the same lines get the same ids after a reload"
        );
        assert_eq!(restored.save(), original.save(), "{name}");
    }
}

#[test]
fn merge_aliases_survive_a_reload() {
    let mut m = Miner::new(MinerConfig::default());
    let first = m.add("removing alpha");
    for w in ["beta", "gamma", "delta", "epsilon"] {
        m.add(&format!("removing {w}"));
    }
    let second = ClusterId(0); // unknown ids resolve to nothing
    let restored = Miner::load(&m.save()).unwrap();
    assert_eq!(restored.resolve(first), m.resolve(first));
    assert_eq!(restored.resolve(second), None);
    assert_eq!(restored.template(first), Some("removing <*>"));
}

#[test]
fn bad_snapshots_are_rejected() {
    assert!(Miner::load(b"not json").is_err());
    assert!(Miner::load(br#"{"format":"other","config":{},"lines":0,"clusters":[]}"#).is_err());
    let dup = br#"{"format":"flexgate-logmine/1","config":{},"lines":2,"clusters":[
        {"id":"0000000000000001","tokens":["a"],"example":"a","count":1,"created":1,"last_seen":1},
        {"id":"0000000000000001","tokens":["b"],"example":"b","count":1,"created":2,"last_seen":2}]}"#;
    let err = Miner::load(dup).unwrap_err().to_string();
    assert!(err.contains("duplicate"), "{err}");
    let ok = br#"{"format":"flexgate-logmine/1","config":{},"lines":1,"clusters":[
        {"id":"00000000000000ff","tokens":["hello","\u0010"],"example":"hello <NUM>","count":1,"created":1,"last_seen":1}]}"#;
    let m = Miner::load(ok).unwrap();
    assert_eq!(m.template(ClusterId(255)), Some("hello <*>"));
}
