//! `shmcalld`: the shmcall daemon. `main` parses the command line and calls `run`; errors end here,
//! printed once with their cause chain, exit code 2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use shmcall::kernels;
use shmcall::layout::ControlConfig;
use shmcall::registry::manifest::Manifest;
use shmcall::ring::SpinPolicy;
use shmcall::server::{paths, serve, ServeOptions};
use shmcall::Registry;

const USAGE: &str = "\
shmcalld: serves compiled Rust functions to Python through shared memory

usage:
  shmcalld serve [--socket PATH] [--spin-us N] [--heap-limit BYTES] [--slots N] [--no-huge-pages]
  shmcalld functions [--json]
  shmcalld --version

serve options:
  --socket PATH        socket path (default: $SHMCALL_SOCKET, else $XDG_RUNTIME_DIR/shmcall/shmcalld.sock,
                       else /tmp/shmcall-<uid>/shmcalld.sock)
  --spin-us N          microseconds the poller keeps spinning for a channel after its last request (default 100; 0 = never spin)
  --heap-limit BYTES   cap on each client's shared heap (default: none, up to the machine's memory)
  --slots N            ring slots per channel: calls one thread can have in flight (default 2)
  --no-huge-pages      4 KiB pages only; by default large arrays get 2 MiB pages, which makes passes
                       over them 8-12 % faster but their first allocation slower where free memory is
                       cold (a VM that hands freed memory back to its host)

Log level: RUST_LOG (error, warn, info, debug, trace); default info.
";

enum Command {
    Serve(ServeOptions),
    Functions { json: bool },
    Version,
    Help,
}

fn parse() -> anyhow::Result<Command> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let cmd = match parser.next()? {
        Some(Value(v)) => v.string()?,
        Some(Long("version")) | Some(Short('V')) => return Ok(Command::Version),
        Some(Long("help")) | Some(Short('h')) | None => return Ok(Command::Help),
        Some(other) => return Err(other.unexpected().into()),
    };
    match cmd.as_str() {
        "serve" => {
            let mut opts = ServeOptions {
                socket: paths::default_socket(),
                spin: SpinPolicy::default(),
                heap_limit: 0,
                huge_pages: true,
                config: ControlConfig::default(),
            };
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("socket") => opts.socket = PathBuf::from(parser.value()?),
                    Long("spin-us") => opts.spin.budget = Duration::from_micros(parser.value()?.parse()?),
                    Long("heap-limit") => opts.heap_limit = parser.value()?.parse()?,
                    Long("slots") => opts.config.slot_count = parser.value()?.parse()?,
                    Long("no-huge-pages") => opts.huge_pages = false,
                    Long("help") | Short('h') => return Ok(Command::Help),
                    other => return Err(other.unexpected().into()),
                }
            }
            opts.config.validate().map_err(anyhow::Error::msg).context("invalid --slots")?;
            Ok(Command::Serve(opts))
        }
        "functions" => {
            let mut json = false;
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("json") => json = true,
                    other => return Err(other.unexpected().into()),
                }
            }
            Ok(Command::Functions { json })
        }
        "help" => Ok(Command::Help),
        other => bail!("unknown command {other:?}; try `shmcalld --help`"),
    }
}

fn print_functions(registry: &Registry, json: bool) {
    let manifest = Manifest::of(registry);
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest).expect("manifest serializes"));
        return;
    }
    for s in &manifest.structs {
        let fields: Vec<String> = s.fields.iter().map(|f| format!("{}: {} @{}", f.name, f.ty, f.offset)).collect();
        println!("struct {} {{ {} }}  // size {}, align {}", s.name, fields.join(", "), s.size, s.align);
    }
    for f in &manifest.functions {
        let params: Vec<String> = f.params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect();
        let rets: Vec<&str> = f.returns.iter().map(|r| r.ty.as_str()).collect();
        let ret = match rets.len() {
            0 => String::new(),
            1 => format!(" -> {}", rets[0]),
            _ => format!(" -> ({})", rets.join(", ")),
        };
        let summary = f.doc.lines().next().unwrap_or("");
        println!("{}({}){}\n    {}", f.name, params.join(", "), ret, summary);
    }
}

fn run() -> anyhow::Result<()> {
    match parse()? {
        Command::Help => print!("{USAGE}"),
        Command::Version => println!("shmcalld {} (protocol {})", env!("CARGO_PKG_VERSION"), shmcall::layout::constants::PROTOCOL_VERSION),
        Command::Functions { json } => print_functions(&kernels::registry(), json),
        Command::Serve(opts) => {
            let socket = opts.socket.clone();
            serve(opts, kernels::registry()).with_context(|| format!("serving on {}", socket.display()))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmcalld: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
