//! A function author's view: exporting functions and structs of one's own in a few lines, and what
//! the registry and manifest then say about them.

use shmcall::kernels;
use shmcall::layout::constants as c;
use shmcall::registry::manifest::Manifest;
use shmcall::registry::{CallError, Result};
use shmcall::Registry;

use crate::support::{call, heap};

mod mine {
    use super::*;

    shmcall::shm_struct! {
        /// A 3-vector.
        pub plain struct Vec3 { pub x: f32, pub y: f32, pub z: f32 }
    }

    shmcall::export! {
        /// Dot product of two vectors.
        pub fn dot(a: Vec3, b: Vec3) -> f32 {
            a.x * b.x + a.y * b.y + a.z * b.z
        }

        /// Normalizes every vector in place; a zero vector is an error.
        pub fn normalize(vs: &mut [Vec3]) -> Result<()> {
            for v in vs.iter_mut() {
                let n = (v.x * v.x + v.y * v.y + v.z * v.z).sqrt();
                if n == 0.0 {
                    return Err(CallError::new("cannot normalize a zero vector"));
                }
                *v = Vec3 { x: v.x / n, y: v.y / n, z: v.z / n };
            }
            Ok(())
        }

        /// Counts the words of a text and returns them with their lengths.
        pub fn words(text: &str, limit: u32) -> (u64, Vec<u32>) {
            let lens: Vec<u32> = text.split_whitespace().take(limit as usize).map(|w| w.len() as u32).collect();
            (text.split_whitespace().count() as u64, lens)
        }

        /// The first n squares, written in place.
        pub fn squares(n: u32) -> shmcall::registry::Filled<'static, u64> {
            shmcall::registry::Filled::new(n as usize, |out| {
                for (i, x) in out.iter_mut().enumerate() {
                    *x = (i * i) as u64;
                }
            })
        }
    }
}

#[test]
fn a_filled_result_arrives_as_an_array() {
    let mut r = Registry::new();
    mine::register(&mut r);
    assert_eq!(Manifest::of(&r).functions[3].returns[0].ty, "Vec<u64>");
    let heap = super::support::heap();
    for n in [0u32, 5, 100_000] {
        let out = super::support::call(&r, &heap, "squares", &n.to_le_bytes()).unwrap();
        let word = |at: usize| u64::from_le_bytes(out[at..at + 8].try_into().unwrap());
        let (segment, offset, length) = (word(0) as u32, word(8) as usize, word(16) as usize);
        assert_eq!(length, n as usize * 8);
        let values: Vec<u64> = if segment == 0 {
            out[offset..offset + length].chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect()
        } else {
            let seg = heap.segment(segment).unwrap();
            // SAFETY: the daemon just wrote this block; nothing else touches the test heap.
            let bytes = unsafe { std::slice::from_raw_parts(seg.as_ptr().add(offset), length) };
            bytes.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect()
        };
        assert_eq!(values, (0..n as u64).map(|i| i * i).collect::<Vec<_>>(), "n = {n}");
        assert_eq!(segment != 0, n == 100_000, "large results go to the heap, small ones inline");
    }
}

#[test]
fn exported_functions_have_typed_signatures_and_docs() {
    let mut r = Registry::new();
    mine::register(&mut r);
    let m = Manifest::of(&r);
    let dot = &m.functions[0];
    assert_eq!(dot.name, "dot");
    assert_eq!(dot.doc, "Dot product of two vectors.");
    assert_eq!(
        dot.params.iter().map(|p| (p.name.as_str(), p.ty.as_str(), p.offset)).collect::<Vec<_>>(),
        [("a", "Vec3", 0), ("b", "Vec3", 12)]
    );
    assert_eq!(dot.args_size, 24);
    assert_eq!(m.functions[1].params[0].ty, "&mut [Vec3]");
    let words = &m.functions[2];
    assert_eq!(
        words.returns.iter().map(|r| (r.ty.as_str(), r.offset)).collect::<Vec<_>>(),
        [("u64", 0), ("Vec<u32>", 8)]
    );
    assert_eq!(words.result_size, 32);
    let vec3 = &m.structs[0];
    assert_eq!((vec3.name.as_str(), vec3.size, vec3.align, vec3.plain), ("Vec3", 12, 4, true));
}

#[test]
fn exported_function_runs_on_a_payload() {
    let mut r = Registry::new();
    mine::register(&mut r);
    let mut payload = Vec::new();
    for v in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0] {
        payload.extend_from_slice(&v.to_le_bytes());
    }
    let out = call(&r, &heap(), "dot", &payload).unwrap();
    assert_eq!(f32::from_le_bytes(out[..4].try_into().unwrap()), 32.0);
}

#[test]
#[should_panic(expected = "exported twice")]
fn duplicate_names_are_refused_at_start_up() {
    let mut r = Registry::new();
    mine::register(&mut r);
    mine::register(&mut r);
}

#[test]
fn builtin_manifest_names_every_article_example() {
    let r = kernels::registry();
    for name in [
        "add",
        "hello",
        "hello_person",
        "change_int",
        "return_int_array",
        "return_int_slice",
        "expand_slice",
        "multi_return",
        "divmod",
    ] {
        assert!(r.id(name).is_some(), "{name} is built in");
    }
    let json = Manifest::of(&r).to_json();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["protocol"], c::PROTOCOL_VERSION);
}
