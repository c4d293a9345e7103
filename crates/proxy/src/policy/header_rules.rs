//! The header policy: add, set and remove request and response headers.
//!
//! Names and values are parsed once when the config version is built, so a bad entry fails the
//! reload instead of every request, and the request path only clones prepared values.
//!
//! Request changes apply to the request sent upstream, before the gateway adds its own forwarding
//! headers (`Host`, `X-Forwarded-*`, `Via`, `X-Correlation-ID`, `traceparent`), which therefore
//! win. Response changes apply to upstream responses only, after the gateway's own response
//! headers, so they can override those.

use std::sync::Arc;

use http::{request, response, HeaderMap, HeaderName, HeaderValue};

use flexgate_config::{HeaderChanges, HeadersPolicy};

use super::{EdgePolicy, RequestContext, Step, Verdict};

/// Builds a header policy.
pub fn build(spec: &HeadersPolicy) -> Result<Arc<dyn EdgePolicy>, String> {
    Ok(Arc::new(HeaderRules {
        request: Changes::parse("request", &spec.request)?,
        response: Changes::parse("response", &spec.response)?,
    }))
}

struct HeaderRules {
    request: Changes,
    response: Changes,
}

/// One side's changes, ready to apply.
struct Changes {
    remove: Vec<HeaderName>,
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
}

impl Changes {
    fn parse(side: &str, spec: &HeaderChanges) -> Result<Changes, String> {
        let name = |n: &str| {
            HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| format!("{side}: `{n}` is not a valid header name"))
        };
        let pair = |(n, v): (&String, &String)| {
            let value = HeaderValue::from_str(v)
                .map_err(|_| format!("{side}: the value of `{n}` is not a valid header value"))?;
            Ok::<_, String>((name(n)?, value))
        };
        Ok(Changes {
            remove: spec
                .remove
                .iter()
                .map(|n| name(n))
                .collect::<Result<_, _>>()?,
            set: spec.set.iter().map(pair).collect::<Result<_, _>>()?,
            add: spec.add.iter().map(pair).collect::<Result<_, _>>()?,
        })
    }

    fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }

    /// Remove, then set, then add: a header both removed and added ends up with only the added
    /// value, which is how operators replace a header while keeping it multi-valued.
    fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

impl EdgePolicy for HeaderRules {
    fn on_request(&self, _ctx: &RequestContext, head: &mut request::Parts) -> Step {
        if !self.request.is_empty() {
            self.request.apply(&mut head.headers);
        }
        Step::Done(Verdict::next())
    }

    fn on_response(&self, _ctx: &RequestContext, head: &mut response::Parts) {
        if !self.response.is_empty() {
            self.response.apply(&mut head.headers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_in_order_remove_set_add() {
        let mut spec = HeaderChanges::default();
        spec.remove.push("x-old".into());
        spec.remove.push("x-multi".into());
        spec.set.insert("x-set".into(), "one".into());
        spec.add.insert("x-multi".into(), "added".into());
        let changes = Changes::parse("request", &spec).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-old", HeaderValue::from_static("gone"));
        headers.append("x-set", HeaderValue::from_static("a"));
        headers.append("x-set", HeaderValue::from_static("b"));
        headers.insert("x-multi", HeaderValue::from_static("client"));
        changes.apply(&mut headers);
        assert!(headers.get("x-old").is_none());
        assert_eq!(headers.get_all("x-set").iter().collect::<Vec<_>>(), ["one"]);
        assert_eq!(
            headers.get_all("x-multi").iter().collect::<Vec<_>>(),
            ["added"]
        );
    }

    #[test]
    fn bad_entries_fail_the_build() {
        let mut spec = HeaderChanges::default();
        spec.set.insert("bad name".into(), "v".into());
        let error = Changes::parse("response", &spec).err().unwrap();
        assert!(error.contains("`bad name`"), "{error}");
        let mut spec = HeaderChanges::default();
        spec.add.insert("x-ok".into(), "line\nbreak".into());
        assert!(Changes::parse("request", &spec).is_err());
    }
}
