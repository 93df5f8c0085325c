//! A daemon's command line: four commands and their flags, parsed into a [`Command`], and the usage
//! text, which names the daemon.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::server::{paths, ServeOptions};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Serve the functions.
    Serve(ServeOptions),
    /// Ask the running daemon for its status report.
    Status {
        /// Its socket.
        socket: PathBuf,
        /// Print the report as JSON.
        json: bool,
    },
    /// List the functions this binary exports.
    Functions {
        /// Print the manifest as JSON.
        json: bool,
    },
    /// Ask the running daemon to shut down and wait until it has.
    Stop {
        /// Its socket.
        socket: PathBuf,
    },
    /// Print the version.
    Version,
    /// Print the usage text.
    Help,
}

/// The usage text of the daemon called `name`.
pub fn usage(name: &str) -> String {
    let defaults = ServeOptions::new(name, "");
    let (uid_connections, channels) = (defaults.max_connections_per_uid, defaults.max_channels);
    let (blocks, messages) = (defaults.max_blocks, defaults.max_messages_per_second);
    format!(
        "\
{name}: serves compiled Rust functions to Python through shared memory

usage:
  {name} serve [--socket PATH] [--spin-us N] [--heap-limit BYTES] [--slots N] [--no-huge-pages]
               [--allow-uid UID]... [--allow-gid GID]... [--max-connections-per-uid N]
               [--max-channels N] [--max-blocks N] [--max-messages-per-second N]
               [--exit-when-idle SECONDS] [--workers N]
  {name} status [--socket PATH] [--json]
  {name} functions [--json]
  {name} stop [--socket PATH]
  {name} --version

commands:
  serve                serve the functions until SIGINT, SIGTERM or `{name} stop`
  status               ask the running daemon for its state: clients, calls, errors, time per function
  functions            list the functions this binary exports (no daemon needed)
  stop                 ask the running daemon to shut down (calls in flight finish) and wait until it has

options:
  --socket PATH        socket path (default: $SHMCALL_SOCKET, else $XDG_RUNTIME_DIR/shmcall/{name}.sock,
                       else /tmp/shmcall-<uid>/{name}.sock)
  --json               print JSON, for programs (status, functions)
  --spin-us N          microseconds the poller keeps spinning for a channel after its last request (default 100; 0 = never spin)
  --heap-limit BYTES   cap on each client's shared heap (default: none, up to the machine's memory)
  --slots N            ring slots per channel: calls one thread can have in flight (default 2)
  --no-huge-pages      4 KiB pages only; by default large arrays get 2 MiB pages, which makes passes
                       over them 8-12 % faster but their first allocation slower where free memory is
                       cold (a VM that hands freed memory back to its host)
  --allow-uid UID      also admit the user UID (repeatable); by default only the daemon's own user
                       may connect, whatever the socket's permissions
  --allow-gid GID      also admit members of the group GID, primary or supplementary (repeatable)
  --exit-when-idle SECONDS
                       exit (socket removed, status 0) once no connection has been open for SECONDS
                       (decimals allowed), counted from the last one's end, or from the start until
                       the first comes: a daemon started for a job does not outlive it
  --workers N          threads serving calls the spinning thread leaves (default: one per core); a
                       few extra start while every one is busy with a long call

per-client limits (a client over one gets an error naming it; the daemon and other clients go on):
  --max-connections-per-uid N  connections one user may hold open, status and stop included
                               (default {uid_connections}; a client process holds one)
  --max-channels N             channels per connection, one per client thread (default {channels})
  --max-blocks N               shared blocks (arrays, results) a connection may hold at once
                               (default {blocks})
  --max-messages-per-second N  control messages per connection a second, with bursts of as many; a
                               flood closes the connection (default {messages}; a client sends one
                               per thread it starts)

Log level: RUST_LOG (error, warn, info, debug, trace); default info.
"
    )
}

/// Parses `args` (without the program name) for the daemon called `name`, version `version`.
pub fn parse(name: &str, version: &str, args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Command> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let command = match parser.next()? {
        Some(Value(v)) => v.string()?,
        Some(Long("version")) | Some(Short('V')) => return Ok(Command::Version),
        Some(Long("help")) | Some(Short('h')) | None => return Ok(Command::Help),
        Some(other) => return Err(other.unexpected().into()),
    };
    let command = match command.as_str() {
        "serve" => serve_options(name, version, &mut parser)?.map(Command::Serve),
        "status" => flags(name, &mut parser, true, true)?.map(|(socket, json)| Command::Status { socket, json }),
        "functions" => flags(name, &mut parser, false, true)?.map(|(_, json)| Command::Functions { json }),
        "stop" => flags(name, &mut parser, true, false)?.map(|(socket, _)| Command::Stop { socket }),
        "help" => None,
        other => bail!("unknown command {other:?}; try `{name} --help`"),
    };
    Ok(command.unwrap_or(Command::Help))
}

/// The flags of `serve`; None if they ask for help.
fn serve_options(name: &str, version: &str, parser: &mut lexopt::Parser) -> anyhow::Result<Option<ServeOptions>> {
    use lexopt::prelude::*;
    let mut opts = ServeOptions::new(name, version);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("socket") => opts.socket = PathBuf::from(parser.value()?),
            Long("spin-us") => opts.spin.budget = Duration::from_micros(parser.value()?.parse()?),
            Long("heap-limit") => opts.heap_limit = parser.value()?.parse()?,
            Long("slots") => opts.config.slot_count = parser.value()?.parse()?,
            Long("no-huge-pages") => opts.huge_pages = false,
            Long("allow-uid") => opts.allow_uids.push(parser.value()?.parse().context("invalid --allow-uid")?),
            Long("allow-gid") => opts.allow_gids.push(parser.value()?.parse().context("invalid --allow-gid")?),
            Long("max-connections-per-uid") => {
                opts.max_connections_per_uid = at_least_one(parser, "--max-connections-per-uid")?
            }
            Long("max-channels") => opts.max_channels = at_least_one(parser, "--max-channels")?,
            Long("max-blocks") => opts.max_blocks = at_least_one(parser, "--max-blocks")?,
            Long("max-messages-per-second") => {
                opts.max_messages_per_second = at_least_one(parser, "--max-messages-per-second")?
            }
            Long("exit-when-idle") => opts.exit_when_idle = Some(seconds(parser, "--exit-when-idle")?),
            Long("workers") => opts.workers = at_least_one(parser, "--workers")?,
            Long("help") | Short('h') => return Ok(None),
            other => return Err(other.unexpected().into()),
        }
    }
    opts.config.validate().map_err(anyhow::Error::msg).context("invalid --slots")?;
    Ok(Some(opts))
}

/// The value of the limit `flag`: a whole number, at least 1 (a limit of none would refuse everything).
fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(
    parser: &mut lexopt::Parser,
    flag: &str,
) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    use lexopt::ValueExt;
    let n: T = parser.value()?.parse().with_context(|| format!("invalid {flag}"))?;
    if n < T::from(1) {
        bail!("invalid {flag}: must be at least 1");
    }
    Ok(n)
}

/// The value of the duration `flag`: seconds, decimals allowed, more than zero (a daemon that may
/// exit at once could go before its first client connects).
fn seconds(parser: &mut lexopt::Parser, flag: &str) -> anyhow::Result<Duration> {
    use lexopt::ValueExt;
    let secs: f64 = parser.value()?.parse().with_context(|| format!("invalid {flag}"))?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => bail!("invalid {flag}: must be a number of seconds above 0"),
    }
}

/// `--socket PATH` (if `socket_ok`) and `--json` (if `json_ok`), with their defaults; None if they
/// ask for help.
fn flags(
    name: &str,
    parser: &mut lexopt::Parser,
    socket_ok: bool,
    json_ok: bool,
) -> anyhow::Result<Option<(PathBuf, bool)>> {
    use lexopt::prelude::*;
    let (mut socket, mut json) = (paths::default_socket(name), false);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("socket") if socket_ok => socket = PathBuf::from(parser.value()?),
            Long("json") if json_ok => json = true,
            Long("help") | Short('h') => return Ok(None),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Some((socket, json)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> anyhow::Result<Command> {
        parse("geo", "1.2.3", args.iter().map(OsString::from))
    }

    fn error(args: &[&str]) -> String {
        format!("{:#}", parsed(args).unwrap_err())
    }

    #[test]
    fn serve_takes_every_flag() {
        let args = [
            "serve",
            "--socket",
            "/tmp/x.sock",
            "--spin-us",
            "0",
            "--heap-limit",
            "4096",
            "--slots",
            "4",
            "--no-huge-pages",
            "--allow-uid",
            "1001",
            "--allow-gid=50",
            "--allow-uid",
            "65534",
            "--max-connections-per-uid",
            "3",
            "--max-channels=2",
            "--max-blocks",
            "10",
            "--max-messages-per-second",
            "5",
            "--exit-when-idle",
            "2.5",
            "--workers",
            "3",
        ];
        let Command::Serve(opts) = parsed(&args).unwrap() else { panic!("not serve") };
        assert_eq!((opts.name.as_str(), opts.version.as_str()), ("geo", "1.2.3"));
        assert_eq!(opts.socket, PathBuf::from("/tmp/x.sock"));
        assert!(opts.spin.budget.is_zero() && !opts.huge_pages);
        assert_eq!((opts.heap_limit, opts.config.slot_count), (4096, 4));
        assert_eq!((opts.allow_uids, opts.allow_gids), (vec![1001, 65534], vec![50]));
        assert_eq!((opts.max_connections_per_uid, opts.max_channels, opts.max_blocks), (3, 2, 10));
        assert_eq!(opts.max_messages_per_second, 5);
        assert_eq!(opts.exit_when_idle, Some(Duration::from_millis(2500)));
        assert_eq!(opts.workers, 3);
    }

    #[test]
    fn serve_defaults_to_the_daemons_own_socket() {
        let Command::Serve(opts) = parsed(&["serve"]).unwrap() else { panic!("not serve") };
        assert_eq!(opts.socket, paths::default_socket("geo"));
        assert_eq!(opts.socket.file_name().unwrap(), "geo.sock", "unless SHMCALL_SOCKET names another");
        assert!(opts.huge_pages && opts.heap_limit == 0);
        assert!(opts.allow_uids.is_empty() && opts.allow_gids.is_empty(), "only the daemon's own user");
        assert_eq!((opts.max_connections_per_uid, opts.max_channels, opts.max_blocks), (1024, 256, 1_000_000));
        assert_eq!(opts.max_messages_per_second, 1000);
        assert_eq!(opts.exit_when_idle, None, "serves until told to stop");
        assert_eq!(opts.workers, 0, "one per core");
    }

    #[test]
    fn status_functions_and_stop_take_their_flags() {
        let Command::Status { socket, json } = parsed(&["status", "--json", "--socket", "/s"]).unwrap() else {
            panic!("not status")
        };
        assert_eq!((socket, json), (PathBuf::from("/s"), true));
        let Command::Status { socket, json } = parsed(&["status"]).unwrap() else { panic!("not status") };
        assert_eq!((socket, json), (paths::default_socket("geo"), false));
        assert!(matches!(parsed(&["functions", "--json"]).unwrap(), Command::Functions { json: true }));
        let Command::Stop { socket } = parsed(&["stop", "--socket=/s"]).unwrap() else { panic!("not stop") };
        assert_eq!(socket, PathBuf::from("/s"));
    }

    #[test]
    fn version_and_help() {
        assert!(matches!(parsed(&["--version"]).unwrap(), Command::Version));
        assert!(matches!(parsed(&["-V"]).unwrap(), Command::Version));
        assert!(matches!(parsed(&[]).unwrap(), Command::Help));
        assert!(matches!(parsed(&["help"]).unwrap(), Command::Help));
        assert!(matches!(parsed(&["serve", "--help"]).unwrap(), Command::Help));
        assert!(matches!(parsed(&["stop", "-h"]).unwrap(), Command::Help));
    }

    #[test]
    fn mistakes_name_what_is_wrong() {
        assert!(error(&["serve", "--bogus"]).contains("--bogus"));
        assert!(error(&["launch"]).contains("unknown command \"launch\"; try `geo --help`"));
        assert!(error(&["functions", "--socket", "/s"]).contains("--socket"), "functions reads no daemon");
        assert!(error(&["stop", "--json"]).contains("--json"));
        assert!(error(&["status", "extra"]).contains("extra"));
        assert!(error(&["serve", "--slots", "0"]).contains("invalid --slots"));
        assert!(error(&["serve", "--spin-us", "soon"]).contains("invalid digit"));
        assert!(error(&["serve", "--socket"]).contains("missing argument"));
        assert!(error(&["serve", "--allow-uid", "root"]).contains("invalid --allow-uid"));
        assert!(error(&["serve", "--allow-gid", "-1"]).contains("invalid --allow-gid"));
        assert!(error(&["serve", "--max-channels", "0"]).contains("invalid --max-channels: must be at least 1"));
        assert!(error(&["serve", "--max-blocks", "many"]).contains("invalid --max-blocks"));
        assert!(error(&["serve", "--max-connections-per-uid", "-2"]).contains("invalid --max-connections-per-uid"));
        assert!(error(&["serve", "--max-messages-per-second", "0"]).contains("must be at least 1"));
        assert!(error(&["serve", "--exit-when-idle", "soon"]).contains("invalid --exit-when-idle"));
        assert!(error(&["serve", "--workers", "0"]).contains("invalid --workers: must be at least 1"));
        for bad in ["0", "-1", "inf", "NaN"] {
            let text = error(&["serve", "--exit-when-idle", bad]);
            assert!(text.contains("invalid --exit-when-idle: must be a number of seconds above 0"), "{bad}: {text}");
        }
    }

    #[test]
    fn usage_names_the_daemon() {
        let text = usage("geo");
        assert!(text.starts_with("geo: serves"));
        for line in [
            "geo serve [--socket PATH]",
            "geo status [--socket PATH] [--json]",
            "geo functions [--json]",
            "geo stop",
            "shmcall/geo.sock",
            "--max-connections-per-uid N  connections one user may hold open, status and stop included\n                               (default 1024;",
            "--max-channels N             channels per connection, one per client thread (default 256)",
            "(default 1000000)",
            "(default 1000;",
            "[--exit-when-idle SECONDS]",
        ] {
            assert!(text.contains(line), "{line}");
        }
        assert!(!text.contains("shmcalld"));
    }
}
