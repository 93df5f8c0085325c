//! Numbers: results whose length only the function knows, and a PRNG stream that panics on a seed
//! it cannot use.

/// The largest `n` `primes_below` accepts: its sieve takes `n` bytes.
pub const PRIMES_LIMIT: u64 = 100_000_000;

shmcall::export! {
    /// Every prime below `n`, in order. `n` above 100 000 000 is an error.
    pub fn primes_below(n: u64) -> shmcall::Result<Vec<u64>> {
        if n > PRIMES_LIMIT {
            return Err(shmcall::CallError::new(format!("n = {n} is above the limit of {PRIMES_LIMIT}")));
        }
        let n = n as usize;
        let mut composite = vec![false; n];
        let mut primes = Vec::new();
        for i in 2..n {
            if !composite[i] {
                primes.push(i as u64);
                for multiple in (i.saturating_mul(i)..n).step_by(i) {
                    composite[multiple] = true;
                }
            }
        }
        Ok(primes)
    }

    /// Run-length encodes `data`: a (count, byte) pair per run, runs at most 255 long.
    pub fn rle_encode(data: &[u8]) -> shmcall::Bytes {
        let mut out = Vec::new();
        for run in data.chunk_by(|a, b| a == b) {
            for piece in run.chunks(255) {
                out.extend([piece.len() as u8, piece[0]]);
            }
        }
        shmcall::Bytes(out)
    }

    /// Fills `out` with the xorshift64 stream of `seed` (the state after each step).
    ///
    /// Panics if `seed` is 0: xorshift's state would stay 0 forever.
    pub fn xorshift_fill(out: &mut [u64], seed: u64) {
        assert_ne!(seed, 0, "xorshift64 needs a non-zero seed");
        let mut x = seed;
        for v in out {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *v = x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        assert_eq!(primes_below(20), Ok(vec![2, 3, 5, 7, 11, 13, 17, 19]));
        assert_eq!(primes_below(2), Ok(vec![]));
        assert!(primes_below(PRIMES_LIMIT + 1).is_err());
    }

    #[test]
    fn runs() {
        assert_eq!(rle_encode(b"aaab").0, vec![3, b'a', 1, b'b']);
        assert_eq!(rle_encode(&[7; 300]).0, vec![255, 7, 45, 7]);
        assert!(rle_encode(b"").0.is_empty());
    }

    #[test]
    #[should_panic(expected = "non-zero seed")]
    fn xorshift_refuses_seed_zero() {
        xorshift_fill(&mut [0; 4], 0);
    }
}
