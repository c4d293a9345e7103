//! The CORS policy.

use std::sync::Arc;

use flexgate_config::CorsPolicy;

use super::{EdgePolicy, PassThrough};

/// Builds a CORS policy.
pub fn build(_spec: &CorsPolicy) -> Result<Arc<dyn EdgePolicy>, String> {
    Ok(Arc::new(PassThrough))
}
