//! Integration tests of the public routing and balancing API, in one binary to keep link time
//! down. Each submodule covers one area; `support` builds configs and requests tersely.

mod balance;
mod props;
mod rewrite;
mod routing;
mod support;
