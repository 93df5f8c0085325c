//! Per-call storage for strings copied out of shared memory, so a `&str` parameter can borrow a
//! copy the client cannot change after it was validated.

use std::cell::UnsafeCell;

/// Owns copies for the duration of one call; cleared between calls.
#[derive(Default)]
pub struct Scratch {
    /// The kept strings, each from `Box::into_raw`. Not as `Box`es: moving a `Box` (into the Vec)
    /// asserts unique access to its string, which invalidates the `&str` already handed out under
    /// the aliasing rules unsafe code must follow; a raw pointer asserts nothing.
    strings: UnsafeCell<Vec<*mut str>>,
}

// SAFETY: the strings are owned, as by a `Box<str>`, which is Send; the raw pointers are never
// shared outside the borrows `keep` hands out, which borrow `self`.
unsafe impl Send for Scratch {}

impl Scratch {
    /// Keeps `s` until the next [`Scratch::clear`] and returns a borrow of it.
    pub fn keep(&self, s: Box<str>) -> &str {
        let ptr = Box::into_raw(s);
        // SAFETY: no other reference to the Vec exists: `keep` is the only accessor through `&self`,
        // it is not re-entrant, and `Scratch` is !Sync (UnsafeCell).
        unsafe { (*self.strings.get()).push(ptr) };
        // SAFETY: `ptr` is the string just stored, a heap allocation that does not move when the Vec
        // reallocates, and is only freed by `clear` (which takes `&mut self`: no borrow alive) or drop.
        unsafe { &*ptr }
    }

    /// Drops every kept string.
    pub fn clear(&mut self) {
        for ptr in self.strings.get_mut().drain(..) {
            // SAFETY: from `Box::into_raw` in `keep`, freed once (drained); `&mut self` means no
            // borrow handed out by `keep` is alive.
            drop(unsafe { Box::from_raw(ptr) });
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.clear();
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
