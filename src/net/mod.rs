//! Networking. This stage has the `none` and `host` modes; the per-container files that name
//! resolution reads live in `hosts`.

pub mod hosts;
