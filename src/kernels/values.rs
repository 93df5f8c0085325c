#![allow(missing_docs)] // struct fields named after their types need no prose

//! One function per value kind the brief lists, so every kind has a built-in that shows it in and out:
//! every scalar, text and bytes, nested and plain structs, struct arrays in place and as results,
//! in-out structs, errors and panics.

use crate::registry::{Bytes, CallError, Filled, Result};
use crate::{Complex32, Complex64};

use super::article::Person;

crate::shm_struct! {
    /// Every scalar kind once, in an order that needs padding between fields.
    pub struct Scalars {
        pub i8: i8,
        pub i16: i16,
        pub i32: i32,
        pub i64: i64,
        pub u8: u8,
        pub u16: u16,
        pub u32: u32,
        pub u64: u64,
        pub f32: f32,
        pub f64: f64,
        pub flag: bool,
        pub c64: Complex32,
        pub c128: Complex64,
    }
}

crate::shm_struct! {
    /// A point in the plane; plain, so arrays of points are shared in place.
    pub plain struct Point {
        pub x: f64,
        pub y: f64,
    }
}

crate::shm_struct! {
    /// An axis-aligned rectangle: a plain struct of plain structs.
    pub plain struct Rect {
        pub min: Point,
        pub max: Point,
    }
}

crate::shm_struct! {
    /// A sample with a one-byte tag: plain, with padding the layout computes.
    pub plain struct Sample {
        pub tag: u8,
        pub value: f64,
        pub channel: u16,
    }
}

crate::shm_struct! {
    /// A team: text, a nested struct with text, and a fixed array.
    pub struct Team {
        pub name: String,
        pub lead: Person,
        pub scores: [i32; 3],
        pub motto: Bytes,
    }
}

crate::export! {
    /// Returns every scalar argument unchanged, packed into a Scalars struct.
    pub fn echo_scalars(i8: i8, i16: i16, i32: i32, i64: i64, u8: u8, u16: u16, u32: u32, u64: u64,
                        f32: f32, f64: f64, flag: bool, c64: Complex32, c128: Complex64) -> Scalars {
        Scalars { i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, flag, c64, c128 }
    }

    /// Returns the struct with every field moved one step: integers + 1 (wrapping), floats * 2,
    /// the flag negated, complex numbers conjugated.
    pub fn step_scalars(s: Scalars) -> Scalars {
        Scalars {
            i8: s.i8.wrapping_add(1), i16: s.i16.wrapping_add(1), i32: s.i32.wrapping_add(1), i64: s.i64.wrapping_add(1),
            u8: s.u8.wrapping_add(1), u16: s.u16.wrapping_add(1), u32: s.u32.wrapping_add(1), u64: s.u64.wrapping_add(1),
            f32: s.f32 * 2.0, f64: s.f64 * 2.0, flag: !s.flag, c64: s.c64.conj(), c128: s.c128.conj(),
        }
    }

    /// Returns the text reversed by characters, and its length in bytes.
    pub fn reverse_str(s: &str) -> (String, u64) {
        // ASCII (most text) reverses byte by byte, without decoding: 1 MiB in tens of µs, not ms.
        let reversed = if s.is_ascii() {
            String::from_utf8(s.bytes().rev().collect()).expect("reversed ASCII is ASCII")
        } else {
            s.chars().rev().collect()
        };
        (reversed, s.len() as u64)
    }

    /// Joins two texts with a separator between them (several text arguments in one request).
    pub fn join_text(a: &str, sep: Bytes, b: &str) -> String {
        format!("{a}{}{b}", String::from_utf8_lossy(&sep.0))
    }

    /// Returns the bytes reversed.
    pub fn reverse_bytes(data: &[u8]) -> Bytes {
        Bytes(data.iter().rev().copied().collect())
    }

    /// Returns `count` copies of `data` concatenated (a result of up to 1 GiB).
    pub fn repeat_bytes(data: Bytes, count: u64) -> Result<Bytes> {
        let total = (data.0.len() as u64).checked_mul(count).filter(|&t| t <= 1 << 30)
            .ok_or_else(|| CallError::new("result would exceed 1 GiB"))?;
        let mut out = Vec::new();
        out.try_reserve_exact(total as usize)?;
        // By doubling, as Python's `bytes * n` does: a copy per doubling, not a call per copy of
        // `data` (65,536 of them for 1 MiB of 16-byte pieces made it 18x `bytes * n`). Empty data
        // or a count of 0 gives an empty result, whatever the other.
        let total = total as usize; // (the capacity reserved may be more)
        if total > 0 {
            out.extend_from_slice(&data.0);
            while out.len() < total {
                out.extend_from_within(..out.len().min(total - out.len()));
            }
        }
        Ok(Bytes(out))
    }

    /// Returns the centroid of the points.
    pub fn centroid(points: &[Point]) -> Result<Point> {
        if points.is_empty() {
            return Err(CallError::new("centroid of no points"));
        }
        // Eight running sums per coordinate, point i in lane i % 8: one running sum cannot be
        // vectorised (float addition is not associative), eight independent ones can (~4x faster).
        let (mut xs, mut ys) = ([0.0f64; 8], [0.0f64; 8]);
        let mut chunks = points.chunks_exact(8);
        for chunk in &mut chunks {
            for (lane, p) in chunk.iter().enumerate() {
                xs[lane] += p.x;
                ys[lane] += p.y;
            }
        }
        for (lane, p) in chunks.remainder().iter().enumerate() {
            xs[lane] += p.x;
            ys[lane] += p.y;
        }
        let total = |l: [f64; 8]| ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        let n = points.len() as f64;
        Ok(Point { x: total(xs) / n, y: total(ys) / n })
    }

    /// Returns the smallest rectangle holding every point.
    pub fn bounding_box(points: &[Point]) -> Result<Rect> {
        let first = *points.first().ok_or_else(|| CallError::new("bounding box of no points"))?;
        Ok(points.iter().fold(Rect { min: first, max: first }, |r, p| Rect {
            min: Point { x: r.min.x.min(p.x), y: r.min.y.min(p.y) },
            max: Point { x: r.max.x.max(p.x), y: r.max.y.max(p.y) },
        }))
    }

    /// Moves every point by (dx, dy), in place.
    pub fn translate(points: &mut [Point], dx: f64, dy: f64) {
        for p in points {
            p.x += dx;
            p.y += dy;
        }
    }

    /// Returns x limited to [lo, hi]; a bound left out (None) does not limit. lo > hi is an error.
    pub fn clamp(x: f64, lo: Option<f64>, hi: Option<f64>) -> Result<f64> {
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo > hi {
                return Err(CallError::new(format!("lo = {lo} is greater than hi = {hi}")));
            }
        }
        // Comparisons rather than min/max: a NaN x stays NaN.
        Ok(match (lo, hi) {
            (Some(lo), _) if x < lo => lo,
            (_, Some(hi)) if x > hi => hi,
            _ => x,
        })
    }

    /// Returns the index of the first element of xs equal to x, or None if there is none.
    pub fn index_of(xs: &[i64], x: i64) -> Option<u64> {
        xs.iter().position(|&v| v == x).map(|i| i as u64)
    }

    /// Returns n points on the unit circle, evenly spaced, starting at (1, 0); n is at most 2^26.
    pub fn circle_points(n: u32) -> Result<Filled<'static, Point>> {
        // A client picks n: bound it (1 GiB of points). Written in place, so a result that cannot be
        // stored fails before any point is computed.
        if n > 1 << 26 {
            return Err(CallError::new(format!("n = {n} exceeds the limit of 2^26 points")));
        }
        Ok(Filled::new(n as usize, move |out: &mut [Point]| {
            for (i, p) in out.iter_mut().enumerate() {
                let a = std::f64::consts::TAU * i as f64 / n as f64;
                *p = Point { x: a.cos(), y: a.sin() };
            }
        }))
    }

    /// Returns the samples whose tag equals `tag`, in order.
    pub fn select_samples(samples: &[Sample], tag: u8) -> Vec<Sample> {
        samples.iter().filter(|s| s.tag == tag).copied().collect()
    }

    /// Returns "name: lead (age), total score".
    pub fn describe_team(t: Team) -> String {
        let total: i64 = t.scores.iter().map(|&s| s as i64).sum();
        format!("{}: {} ({}), {total}", t.name, t.lead.name, t.lead.age)
    }

    /// In place: the lead gets a year older, every score doubles, the name gains a "!".
    pub fn promote(t: &mut Team) {
        t.lead.age += 1;
        for s in &mut t.scores {
            *s = s.wrapping_mul(2);
        }
        t.name.push('!');
    }

    /// Always fails with `message` (to show remote errors).
    pub fn fail(message: &str) -> Result<()> {
        Err(CallError::new(message))
    }

    /// Always panics with `message` (to show that a panic is caught and the daemon keeps serving).
    pub fn panic(message: &str) {
        panic!("{message}");
    }

    /// Sleeps for `millis` milliseconds (to show timeouts and interrupts).
    pub fn sleep_ms(millis: u64) -> Result<()> {
        if millis > 600_000 {
            return Err(CallError::new("refusing to sleep more than 10 minutes"));
        }
        std::thread::sleep(std::time::Duration::from_millis(millis));
        Ok(())
    }
}
