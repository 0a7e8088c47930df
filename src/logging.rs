//! Logger setup: stderr only, level from `--log-level` or `RUST_LOG`.

/// Installs the logger once. `RUST_LOG` wins over the flag.
pub fn init(level: Option<&str>) {
    let default = level.unwrap_or("warn");
    let env = env_logger::Env::default().default_filter_or(default);
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp(None)
        .target(env_logger::Target::Stderr)
        .try_init();
}
