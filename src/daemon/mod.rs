//! [`Daemon`]: a whole daemon program around a registry of functions, with the command line every
//! shmcall daemon shares (`serve`, `status`, `functions`, `stop`).
//!
//! Its files, bottom to top: `cli` (parsing and usage), `functions` (the `functions` command),
//! `remote` (the asking end of `status` and `stop`), `status`, `stop`.
//!
//! The parser is lexopt, driven by hand: four commands and eight flags do not need clap, which would
//! add seconds to the build of every user's daemon.

mod cli;
mod functions;
mod remote;
mod status;
mod stop;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context;

use self::cli::Command;
use crate::layout::constants::PROTOCOL_VERSION;
use crate::registry::Registry;
use crate::server::serve;

/// A daemon program: a name, a version and the functions it serves.
///
/// ```no_run
/// mod geometry {
///     shmcall::export! {
///         /// The distance from the origin.
///         pub fn norm(x: f64, y: f64) -> f64 {
///             x.hypot(y)
///         }
///     }
/// }
///
/// fn main() -> std::process::ExitCode {
///     shmcall::Daemon::new("geo", env!("CARGO_PKG_VERSION")).register(geometry::register).main()
/// }
/// ```
///
/// `geo serve` then listens on `$XDG_RUNTIME_DIR/shmcall/geo.sock` (see `geo --help`), and Python
/// calls `shmcall.connect(socket).norm(3.0, 4.0)`.
#[derive(Debug)]
#[must_use = "a Daemon does nothing until `.main()`"]
pub struct Daemon {
    name: String,
    version: String,
    registry: Registry,
}

impl Daemon {
    /// A daemon called `name` (its socket is `<name>.sock`, clients see `"<name> <version>"`),
    /// serving no function yet.
    ///
    /// # Panics
    ///
    /// If `name` cannot name a socket file: it must be 1 to 64 ASCII letters, digits, `-`, `_` or
    /// `.`, not starting with `.` or `-`.
    pub fn new(name: &str, version: &str) -> Daemon {
        if let Err(e) = check_name(name) {
            panic!("shmcall::Daemon::new: {e}");
        }
        Daemon { name: name.to_owned(), version: version.to_owned(), registry: Registry::new() }
    }

    /// Adds functions: `register` is the function [`export!`](crate::export) generates in each
    /// module that exports some.
    ///
    /// # Panics
    ///
    /// If a function name is taken already, or a struct name stands for two different layouts.
    pub fn register(mut self, register: impl FnOnce(&mut Registry)) -> Daemon {
        register(&mut self.registry);
        self
    }

    /// Adds every built-in function (what `shmcalld` serves).
    #[cfg(feature = "builtins")]
    pub fn builtins(self) -> Daemon {
        self.register(crate::kernels::register)
    }

    /// Runs the program: parses the command line, does what it says, and returns the exit code
    /// (0, or 2 after printing the error with its causes). Logging goes to stderr at the level of
    /// `RUST_LOG` (default `info`).
    pub fn main(self) -> ExitCode {
        let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).try_init();
        let name = self.name.clone();
        match self.run(std::env::args_os().skip(1)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: error: {e:#}");
                ExitCode::from(2)
            }
        }
    }

    fn run(self, args: impl IntoIterator<Item = OsString>) -> anyhow::Result<()> {
        match cli::parse(&self.name, &self.version, args)? {
            Command::Help => print!("{}", cli::usage(&self.name)),
            Command::Version => println!("{}", self.version_line()),
            Command::Functions { json } => functions::print(&self.registry, json),
            Command::Status { socket, json } => status::print(&socket, json)?,
            Command::Stop { socket } => {
                let pid = stop::stop(&socket)?;
                println!("{} (pid {pid}) stopped", self.name);
            }
            Command::Serve(opts) => {
                let socket = opts.socket.clone();
                serve(opts, self.registry).with_context(|| format!("serving on {}", socket.display()))?;
            }
        }
        Ok(())
    }

    /// `<name> <version> (shmcall <version>, protocol <n>)`.
    fn version_line(&self) -> String {
        format!("{} {} (shmcall {}, protocol {PROTOCOL_VERSION})", self.name, self.version, env!("CARGO_PKG_VERSION"))
    }
}

/// Why `name` cannot name a daemon's socket file, if it cannot.
fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 64 {
        return Err(format!("a daemon name has 1 to 64 characters, {name:?} has {}", name.len()));
    }
    if !name.chars().all(allowed) || name.starts_with(['.', '-']) {
        return Err(format!(
            "{name:?} cannot name a socket file: use letters, digits, '-', '_' and '.', not first '.' or '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_make_socket_file_names() {
        for good in ["shmcalld", "geo", "my-daemon_2.1"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a/b", ".hidden", "-flag", "two words", "naïve", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    #[should_panic(expected = "cannot name a socket file")]
    fn a_bad_name_is_a_programming_error() {
        let _ = Daemon::new("../etc", "1");
    }

    #[test]
    fn register_adds_functions_and_version_names_everything() {
        crate::export! {
            /// Doubles.
            fn double(x: i64) -> i64 { x * 2 }
        }
        let d = Daemon::new("geo", "1.2.3").register(register);
        assert_eq!(d.registry.functions().len(), 1);
        assert_eq!(
            d.version_line(),
            format!("geo 1.2.3 (shmcall {}, protocol {PROTOCOL_VERSION})", env!("CARGO_PKG_VERSION"))
        );
    }

    #[cfg(feature = "builtins")]
    #[test]
    fn builtins_are_opt_in() {
        assert!(Daemon::new("x", "0").registry.functions().is_empty());
        let d = Daemon::new("x", "0").builtins();
        assert!(d.registry.id("add").is_some());
    }
}
