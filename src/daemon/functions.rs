//! `<daemon> functions`: the functions and struct types this binary exports, as signatures or as
//! the manifest's JSON.

use crate::registry::manifest::Manifest;
use crate::registry::Registry;

/// Prints what `registry` exports.
pub fn print(registry: &Registry, json: bool) {
    let manifest = Manifest::of(registry);
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest).expect("manifest serializes"));
        return;
    }
    for s in &manifest.structs {
        let fields: Vec<String> = s.fields.iter().map(|f| format!("{}: {} @{}", f.name, f.ty, f.offset)).collect();
        println!("struct {} {{ {} }}  // size {}, align {}", s.name, fields.join(", "), s.size, s.align);
    }
    for f in &manifest.functions {
        let params: Vec<String> = f.params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect();
        let rets: Vec<&str> = f.returns.iter().map(|r| r.ty.as_str()).collect();
        let ret = match rets.len() {
            0 => String::new(),
            1 => format!(" -> {}", rets[0]),
            _ => format!(" -> ({})", rets.join(", ")),
        };
        let summary = f.doc.lines().next().unwrap_or("");
        println!("{}({}){}\n    {}", f.name, params.join(", "), ret, summary);
    }
}
