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

        /// The largest element; an empty array is an error.
        pub fn largest<T: Copy + PartialOrd in [f64, u32]>(xs: &[T]) -> Result<T> {
            let mut it = xs.iter().copied();
            let first = it.next().ok_or_else(|| CallError::new("empty array"))?;
            Ok(it.fold(first, |m, x| if x > m { x } else { m }))
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
    assert_eq!(Manifest::of(&r).functions[4].signatures()[0].returns[0].ty, "Vec<u64>");
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
    assert_eq!((m.functions[0].name(), m.functions[0].doc()), ("dot", "Dot product of two vectors."));
    let dot = m.functions[0].signatures()[0];
    assert_eq!(
        dot.params.iter().map(|p| (p.name.as_str(), p.ty.as_str(), p.offset)).collect::<Vec<_>>(),
        [("a", "Vec3", 0), ("b", "Vec3", 12)]
    );
    assert_eq!(dot.args_size, 24);
    assert_eq!(m.functions[1].signatures()[0].params[0].ty, "&mut [Vec3]");
    let words = m.functions[2].signatures()[0];
    assert_eq!(
        words.returns.iter().map(|r| (r.ty.as_str(), r.offset)).collect::<Vec<_>>(),
        [("u64", 0), ("Vec<u32>", 8)]
    );
    assert_eq!(words.result_size, 32);
    let vec3 = &m.structs[0];
    assert_eq!((vec3.name.as_str(), vec3.size, vec3.align, vec3.plain), ("Vec3", 12, 4, true));
}

#[test]
fn a_generic_function_is_one_manifest_entry_with_an_overload_per_type() {
    let mut r = Registry::new();
    mine::register(&mut r);
    let json: serde_json::Value = serde_json::from_str(&Manifest::of(&r).to_json()).unwrap();
    let largest = &json["functions"][3];
    assert_eq!((&largest["name"], &largest["dispatch"]), (&"largest".into(), &"xs".into()));
    assert_eq!(largest["doc"], "The largest element; an empty array is an error.");
    assert!(largest.get("id").is_none() && largest.get("params").is_none());
    let overloads: Vec<String> = largest["overloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {} {} {}", o["id"], o["element"], o["params"][0]["type"], o["returns"][0]["type"]))
        .collect();
    assert_eq!(overloads, [r#"3 "f64" "&[f64]" "f64""#, r#"4 "u32" "&[u32]" "u32""#]);
    assert_eq!(json["functions"][4]["id"], 5, "the next function's id follows the overloads'");
    // Each overload runs under its own id and name, on its own element type.
    let inline = |data: &[u8]| {
        let mut p = vec![0u8; 24];
        p[8..16].copy_from_slice(&24u64.to_le_bytes()); // inline: segment 0, data right after the record
        p[16..24].copy_from_slice(&(data.len() as u64).to_le_bytes());
        p.extend_from_slice(data);
        p
    };
    let u32s: Vec<u8> = [3u32, 9, 4].iter().flat_map(|x| x.to_le_bytes()).collect();
    let out = call(&r, &heap(), "largest[u32]", &inline(&u32s)).unwrap();
    assert_eq!(u32::from_le_bytes(out[..4].try_into().unwrap()), 9);
    let f64s: Vec<u8> = [0.5f64, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let out = call(&r, &heap(), "largest[f64]", &inline(&f64s)).unwrap();
    assert_eq!(f64::from_le_bytes(out[..8].try_into().unwrap()), 0.5);
    assert_eq!(r.id("largest"), None, "only its overloads have ids");
    assert_eq!(r.generic("largest").map(|g| (g.dispatch, g.ids.clone())), Some((0, 3..5)));
}

#[test]
#[should_panic(expected = "no parameter's type tells the overloads apart")]
fn overloads_that_no_parameter_tells_apart_are_refused_at_start_up() {
    mod same {
        use shmcall::registry::Filled;
        shmcall::export! {
            /// A zero-filled array of n elements.
            pub fn zeros<T: Default + Clone in [f32, f64]>(n: u32) -> Filled<'static, T> {
                Filled::new(n as usize, |out| out.fill(T::default()))
            }
        }
    }
    same::register(&mut Registry::new());
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
