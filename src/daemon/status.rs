//! `<daemon> status`: asks the running daemon for its status report and prints it, as a table for
//! people or as the daemon's JSON for programs.

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;

use super::remote;
use crate::server::StatusReport;

/// Prints the status of the daemon on `socket`.
pub fn print(socket: &Path, json: bool) -> anyhow::Result<()> {
    let (_, mut answer) = remote::ask(socket, "status", "status")?;
    if json {
        if let Some(object) = answer.as_object_mut() {
            object.remove("op");
        }
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let report: StatusReport = serde_json::from_value(answer).context("reading the status report")?;
        print!("{}", text(&report));
    }
    Ok(())
}

/// The report as a table.
pub fn text(r: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} (shmcall {}, protocol {}), pid {}, up {}",
        r.name,
        r.version,
        r.shmcall,
        r.protocol,
        r.pid,
        uptime(r.uptime_s)
    );
    let _ = writeln!(out, "socket         {}", r.socket);
    let _ = writeln!(out, "clients        {} ({} channels)", r.clients, r.channels);
    let _ = writeln!(out, "calls          {} ({} errors, {} panics)", r.calls, r.errors, r.panics);
    let _ = writeln!(
        out,
        "shared memory  {} mapped, {} allocated",
        bytes(r.shared_memory_bytes),
        bytes(r.heap_allocated_bytes)
    );
    let q = &r.requests;
    let _ = writeln!(
        out,
        "requests       {} batches, {} allocations, {} no-ops, {} of unknown functions",
        q.batch, q.alloc, q.nop, q.unknown_function
    );
    let width = r.functions.iter().map(|f| f.name.len()).max().unwrap_or(0).max("function".len());
    let _ = writeln!(
        out,
        "\n{:width$}  {:>10}  {:>7}  {:>7}  {:>10}  {:>10}",
        "function", "calls", "errors", "panics", "total", "mean"
    );
    for f in &r.functions {
        let mean = if f.calls == 0 { "-".to_owned() } else { seconds(f.total_s / f.calls as f64) };
        let _ = writeln!(
            out,
            "{:width$}  {:>10}  {:>7}  {:>7}  {:>10}  {:>10}",
            f.name,
            f.calls,
            f.errors,
            f.panics,
            seconds(f.total_s),
            mean
        );
    }
    out
}

/// `3d 04h`, `2h 05m`, `7m 03s`, `12.5s`.
fn uptime(s: f64) -> String {
    let whole = s as u64;
    let (d, h, m, sec) = (whole / 86_400, whole / 3600 % 24, whole / 60 % 60, whole % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s:.1}s"),
        (0, 0, _) => format!("{m}m {sec:02}s"),
        (0, _, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h:02}h"),
    }
}

/// Seconds with a unit that keeps three significant digits or so: `1.23 µs`, `45.6 ms`, `2.00 s`.
fn seconds(s: f64) -> String {
    match s {
        0.0 => "0".to_owned(),
        s if s < 1e-3 => format!("{:.2} µs", s * 1e6),
        s if s < 1.0 => format!("{:.2} ms", s * 1e3),
        s => format!("{s:.2} s"),
    }
}

/// Bytes in binary units: `512 B`, `4.0 KiB`, `32.0 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut unit) = (n as f64, 0);
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::report::FunctionStatus;

    #[test]
    fn the_table_shows_every_count() {
        let report = StatusReport {
            name: "geo".into(),
            version: "1.0.0".into(),
            shmcall: "0.1.0".into(),
            protocol: 2,
            pid: 42,
            socket: "/run/user/1000/shmcall/geo.sock".into(),
            uptime_s: 125.0,
            clients: 1,
            channels: 2,
            calls: 12,
            errors: 1,
            panics: 1,
            shared_memory_bytes: 33 << 20,
            heap_allocated_bytes: 4096,
            functions: vec![
                FunctionStatus { name: "rotate".into(), calls: 10, errors: 0, panics: 0, total_s: 20e-6 },
                FunctionStatus { name: "primes_below".into(), calls: 0, ..FunctionStatus::default() },
            ],
            ..StatusReport::default()
        };
        let t = text(&report);
        assert!(t.starts_with("geo 1.0.0 (shmcall 0.1.0, protocol 2), pid 42, up 2m 05s\n"), "{t}");
        for line in [
            "clients        1 (2 channels)",
            "calls          12 (1 errors, 1 panics)",
            "33.0 MiB mapped, 4.0 KiB allocated",
        ] {
            assert!(t.contains(line), "{line} in\n{t}");
        }
        assert!(t.contains("rotate                10        0        0    20.00 µs     2.00 µs"), "{t}");
        assert!(t.contains("primes_below           0        0        0           0           -"), "{t}");
    }

    #[test]
    fn units() {
        assert_eq!(
            (uptime(3.25), uptime(7200.0 + 60.0), uptime(3.0 * 86_400.0)),
            ("3.2s".into(), "2h 01m".into(), "3d 00h".into())
        );
        assert_eq!(
            (seconds(0.0), seconds(1.5e-7), seconds(0.25), seconds(3.0)),
            ("0".into(), "0.15 µs".into(), "250.00 ms".into(), "3.00 s".into())
        );
        assert_eq!((bytes(512), bytes(1536), bytes(5 << 30)), ("512 B".into(), "1.5 KiB".into(), "5.0 GiB".into()));
    }
}
