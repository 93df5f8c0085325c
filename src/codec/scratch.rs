//! Per-call storage for strings copied out of shared memory, so a `&str` parameter can borrow a
//! copy the client cannot change after it was validated.

use std::cell::UnsafeCell;

/// Owns copies for the duration of one call; cleared between calls.
#[derive(Default)]
pub struct Scratch {
    strings: UnsafeCell<Vec<Box<str>>>,
}

impl Scratch {
    /// Keeps `s` until the next [`Scratch::clear`] and returns a borrow of it.
    pub fn keep(&self, s: Box<str>) -> &str {
        let ptr: *const str = &*s;
        // SAFETY:
        // - no other reference to the Vec exists: `keep` is the only accessor through `&self`, it is
        //   not re-entrant, and `Scratch` is !Sync (UnsafeCell);
        // - the returned &str points into the Box's heap allocation, which does not move when the Vec
        //   reallocates, and is only dropped by `clear`, which takes `&mut self` (no borrows alive).
        unsafe { (*self.strings.get()).push(s) };
        // SAFETY: `ptr` points to the string just stored, valid as argued above for the borrow of self.
        unsafe { &*ptr }
    }

    /// Drops every kept string.
    pub fn clear(&mut self) {
        self.strings.get_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kept_strings_survive_later_pushes() {
        let s = super::Scratch::default();
        let a = s.keep("first".into());
        for i in 0..100 {
            s.keep(format!("{i}").into());
        }
        assert_eq!(a, "first");
    }
}
