//! `<daemon> functions`: the functions and struct types this binary exports, as signatures or as
//! the manifest's JSON.

use crate::registry::manifest::{Manifest, Signature};
use crate::registry::Registry;

/// Prints what `registry` exports.
pub fn print(registry: &Registry, json: bool) {
    let manifest = Manifest::of(registry);
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest).expect("manifest serializes"));
    } else {
        print!("{}", text(&manifest));
    }
}

/// The struct types, then each function: its signature (a generic function's overloads one under
/// another) and the first line of its doc.
fn text(manifest: &Manifest) -> String {
    let mut out = String::new();
    for s in &manifest.structs {
        let fields: Vec<String> = s.fields.iter().map(|f| format!("{}: {} @{}", f.name, f.ty, f.offset)).collect();
        out += &format!("struct {} {{ {} }}  // size {}, align {}\n", s.name, fields.join(", "), s.size, s.align);
    }
    for f in &manifest.functions {
        for (i, signature) in f.signatures().into_iter().enumerate() {
            let name = if i == 0 { f.name().to_owned() } else { " ".repeat(f.name().len()) };
            out += &format!("{name}{}\n", parameters_and_results(signature));
        }
        out += &format!("    {}\n", f.doc().lines().next().unwrap_or(""));
    }
    out
}

/// `(a: i64, b: i64) -> i64`.
fn parameters_and_results(s: &Signature) -> String {
    let params: Vec<String> = s.params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect();
    let rets: Vec<&str> = s.returns.iter().map(|r| r.ty.as_str()).collect();
    let ret = match rets.len() {
        0 => String::new(),
        1 => format!(" -> {}", rets[0]),
        _ => format!(" -> ({})", rets.join(", ")),
    };
    format!("({}){ret}", params.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::export! {
        /// Adds.
        pub fn add(a: i64, b: i64) -> i64 { a + b }
        /// The first element.
        /// (Empty: zero.)
        pub fn first<T: Copy + Default in [f64, u8]>(xs: &[T]) -> T { xs.first().copied().unwrap_or_default() }
    }

    #[test]
    fn a_generic_function_is_listed_once_with_its_overloads() {
        let mut r = Registry::new();
        register(&mut r);
        assert_eq!(
            text(&Manifest::of(&r)),
            "add(a: i64, b: i64) -> i64\n    Adds.\n\
             first(xs: &[f64]) -> f64\n     (xs: &[u8]) -> u8\n    The first element.\n"
        );
    }
}
