//! A daemon of its own functions: the whole program is the `main` below; the functions are in
//! `geometry` and `numbers`. Build with `cargo build --release`, then `custom_daemon serve` (or let
//! Python start it) and `custom_daemon --help` for the rest of its command line.

mod geometry;
mod numbers;

fn main() -> std::process::ExitCode {
    // The package name names the daemon (and so its socket, `custom_daemon.sock`).
    shmcall::Daemon::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        .register(geometry::register)
        .register(numbers::register)
        .main()
}
