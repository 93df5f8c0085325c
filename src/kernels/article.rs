//! The examples of the article that started shmcall (`shared/seed`): every value kind that was a
//! fight through ctypes/cgo, as an ordinary Rust function.

use super::prng::splitmix64;
use crate::registry::{CallError, Result};

crate::shm_struct! {
    /// A person, as in the article's `hello_person`.
    pub struct Person {
        /// Name, any length of UTF-8.
        pub name: String,
        /// Age in years.
        pub age: i64,
    }
}

crate::export! {
    /// Returns a + b; an overflow is an error, never a silent wrap.
    pub fn add(a: i64, b: i64) -> Result<i64> {
        a.checked_add(b).ok_or_else(|| CallError::new(format!("integer overflow: {a} + {b} does not fit in i64")))
    }

    /// Returns "hello " + name.
    pub fn hello(name: &str) -> String {
        format!("hello {name}")
    }

    /// Returns a new person named "xiaohong" with the caller's age.
    pub fn hello_person(p: Person) -> Person {
        Person { name: "xiaohong".to_owned(), age: p.age }
    }

    /// Replaces x, in place, with the next SplitMix64 output from state x.
    pub fn change_int(x: &mut i64) {
        *x = splitmix64(*x as u64) as i64;
    }

    /// Swaps the first and last elements of xs in place and returns the array 0..=9.
    pub fn return_int_array(xs: &mut [i64]) -> Vec<i64> {
        if let Some(last) = xs.len().checked_sub(1) {
            xs.swap(0, last);
        }
        (0..10).collect()
    }

    /// Writes i into a[i] and b[i] for every index and returns the array 0..=9.
    pub fn return_int_slice(a: &mut [i64], b: &mut [i64]) -> Vec<i64> {
        for (i, x) in a.iter_mut().enumerate() {
            *x = i as i64;
        }
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as i64;
        }
        (0..10).collect()
    }

    /// Appends 0..=9 to v; the caller sees the new length.
    pub fn expand_slice(v: &mut Vec<i64>) {
        v.extend(0..10);
    }

    /// Returns two values: (1, 2).
    pub fn multi_return() -> (i64, i64) {
        (1, 2)
    }

    /// Returns (a // b, a % b) with Python's floor semantics; a zero divisor is an error.
    pub fn divmod(a: i64, b: i64) -> Result<(i64, i64)> {
        if b == 0 {
            return Err(CallError::new("integer division by zero"));
        }
        let (mut q, mut r) = (a.checked_div(b).ok_or_else(|| CallError::new(format!("{a} // {b} overflows i64")))?, a % b);
        if r != 0 && ((r < 0) != (b < 0)) {
            q -= 1;
            r += b;
        }
        Ok((q, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divmod_matches_python_floor_semantics() {
        for (a, b, q, r) in [(7, 2, 3, 1), (-7, 2, -4, 1), (7, -2, -4, -1), (-7, -2, 3, -1), (6, 3, 2, 0)] {
            assert_eq!(divmod(a, b).unwrap(), (q, r), "divmod({a}, {b})");
        }
        assert!(divmod(1, 0).is_err());
        assert!(divmod(i64::MIN, -1).is_err());
    }

    #[test]
    fn add_refuses_overflow() {
        assert_eq!(add(2, 3).unwrap(), 5);
        assert!(add(i64::MAX, 1).is_err());
    }

    #[test]
    fn article_arrays() {
        let mut xs = vec![1, 2, 3];
        assert_eq!(return_int_array(&mut xs), (0..10).collect::<Vec<_>>());
        assert_eq!(xs, [3, 2, 1]);
        assert_eq!(return_int_array(&mut []).len(), 10);
        let mut v = vec![7];
        expand_slice(&mut v);
        assert_eq!(v.len(), 11);
    }
}
