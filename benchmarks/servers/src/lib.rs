//! Code both benchmark servers share: announcing the OS-picked loopback port, stopping when the
//! Python side goes away, and f64 arrays in and out of raw byte buffers (little-endian f64, the
//! wire format of both services).

use std::borrow::Cow;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use shmcall::kernels::arrays;

// Arrays are reinterpreted in place, which is only the wire format on little-endian machines.
#[cfg(not(target_endian = "little"))]
compile_error!("the servers read little-endian f64 in place");

/// Tells the parent which port the OS picked: the first line on stdout, then nothing else is ever
/// written there (the parent stops reading, so more output could fill the pipe and block).
pub fn announce(port: u16) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "LISTENING {port}")?;
    out.flush()
}

/// Resolves when stdin reaches end of file, i.e. when the parent closed its end or died, so a
/// server never outlives the benchmark that started it even if teardown never runs.
pub async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// The shared-memory echo servers' `main` (`raw_echo`, `layout_echo`): maps the file named by the
/// first argument (which the parent created and never truncates while we run), prints `READY`, and
/// runs `serve` until stdin reaches end of file (the parent closed it or died), which sets the flag
/// `serve` polls.
pub fn serve_file(usage: &str, serve: fn(&memmap2::MmapMut, &AtomicBool)) -> std::io::Result<()> {
    static STOP: AtomicBool = AtomicBool::new(false);
    let path = std::env::args().nth(1).expect(usage);
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
    // SAFETY: the parent created this file for us alone and never truncates it while we run; the
    // client writes it concurrently, which is why the servers access it only through atomics.
    let map = unsafe { memmap2::MmapMut::map_mut(&file)? };
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        while let Ok(n) = std::io::stdin().read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        STOP.store(true, Ordering::Relaxed);
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY")?;
    out.flush()?;
    drop(out);
    serve(&map, &STOP);
    Ok(())
}

/// Empty sweeps between yields (tens of µs): with more spinning processes than cores (client
/// processes and an echo server), the waiting clients still get the CPU; an uncontended call pays
/// nothing.
const SWEEPS_PER_YIELD: u32 = 1 << 12;

/// The echo servers' busy loop policy: after `SWEEPS_PER_YIELD` sweeps in a row that found no
/// request, yield the core once.
#[derive(Default)]
pub struct IdleSweeps(u32);

impl IdleSweeps {
    /// Counts one sweep of every ring (`busy`: it answered a request), yielding when it is due.
    pub fn after_sweep(&mut self, busy: bool) {
        self.0 = if busy { 0 } else { self.0 + 1 };
        if self.0 == SWEEPS_PER_YIELD {
            self.0 = 0;
            std::thread::yield_now();
        }
    }
}

/// Why a byte buffer is not an f64 array.
fn check_len(n: usize) -> Result<(), String> {
    if n.is_multiple_of(8) {
        Ok(())
    } else {
        Err(format!(
            "{n} bytes is not a whole number of f64 values (8 bytes each)"
        ))
    }
}

fn aligned(bytes: &[u8]) -> bool {
    bytes.as_ptr().cast::<f64>().is_aligned()
}

/// The f64 values in `bytes`: borrowed when the buffer is 8-aligned (the usual case for a large
/// body collected into one allocation), else copied, since a slice of f64 must be aligned.
pub fn f64s(bytes: &[u8]) -> Result<Cow<'_, [f64]>, String> {
    check_len(bytes.len())?;
    if aligned(bytes) {
        return Ok(Cow::Borrowed(bytemuck::cast_slice(bytes)));
    }
    Ok(Cow::Owned(
        bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunks_exact(8)")))
            .collect(),
    ))
}

/// Scales the array in `body` by `k` and returns the scaled bytes: in place when this request is
/// the buffer's only owner and it is aligned, so the server copies nothing; else one copy.
pub fn scale_bytes(body: Bytes, k: f64) -> Result<Bytes, String> {
    check_len(body.len())?;
    let body = match body.try_into_mut() {
        Ok(mut buf) if aligned(&buf) => {
            arrays::scale::<f64>(bytemuck::cast_slice_mut(&mut buf), k).map_err(|e| e.to_string())?;
            return Ok(buf.freeze());
        }
        Ok(buf) => buf.freeze(),
        Err(shared) => shared,
    };
    let mut xs = f64s(&body)?.into_owned();
    arrays::scale::<f64>(&mut xs, k).map_err(|e| e.to_string())?;
    Ok(f64_bytes(xs))
}

/// A Vec<f64> as response bytes, without copying it.
pub fn f64_bytes(xs: Vec<f64>) -> Bytes {
    Bytes::from_owner(F64Owner(xs))
}

struct F64Owner(Vec<f64>);

impl AsRef<[u8]> for F64Owner {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_aligned_or_not() {
        let xs = [1.5f64, -2.0, 3.25];
        let raw: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&raw);
        assert_eq!(&*f64s(&raw).unwrap(), &xs);
        assert_eq!(&*f64s(&shifted[1..]).unwrap(), &xs);
        assert!(f64s(&raw[1..]).is_err());
        let scaled = scale_bytes(Bytes::from(shifted).slice(1..), 2.0).unwrap();
        assert_eq!(&*f64s(&scaled).unwrap(), &[3.0, -4.0, 6.5]);
    }
}
