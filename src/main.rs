//! `shmcalld`: the daemon of the built-in functions. The program is the library's [`shmcall::Daemon`]:
//! a custom daemon's `main` is the same line with its own name and functions.

fn main() -> std::process::ExitCode {
    shmcall::Daemon::new("shmcalld", env!("CARGO_PKG_VERSION")).builtins().main()
}
