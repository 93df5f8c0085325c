//! The manifest (SPEC §7): the JSON description of every function and struct type that the daemon
//! sends in the handshake and `shmcalld functions` prints. The client builds its callables and
//! struct types from it; offsets are given explicitly so no side has to re-derive the other's layout.

use serde::Serialize;

use super::function::Registry;
use super::ty::{StructDesc, Ty};
use crate::layout::constants::{LAYOUT_HASH, PROTOCOL_VERSION};

/// The whole manifest.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// Protocol version.
    pub protocol: u32,
    /// Layout hash, as a hex string (JSON numbers cannot hold every u64 exactly).
    pub layout_hash: String,
    /// Functions in id order.
    pub functions: Vec<FunctionEntry>,
    /// Struct types, each after the structs it contains.
    pub structs: Vec<StructEntry>,
}

/// One function.
#[derive(Debug, Serialize)]
pub struct FunctionEntry {
    /// Function id (its index).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Doc comment.
    pub doc: String,
    /// Parameters with their offsets in the argument record.
    pub params: Vec<Slot>,
    /// Size of the argument record's fixed part.
    pub args_size: usize,
    /// Results with their offsets in the result record.
    pub returns: Vec<Slot>,
    /// In-out parameters' final states, after the results.
    pub outs: Vec<Slot>,
    /// Size of the result record's fixed part.
    pub result_size: usize,
    /// Whether many calls can be sent as one `FN_BATCH` request.
    pub batchable: bool,
}

/// A value in a record.
#[derive(Debug, Serialize)]
pub struct Slot {
    /// Parameter name (params), or the in-out parameter's name (outs); empty for results.
    pub name: String,
    /// Wire type name.
    #[serde(rename = "type")]
    pub ty: String,
    /// Offset in the record.
    pub offset: usize,
}

/// One struct type.
#[derive(Debug, Serialize)]
pub struct StructEntry {
    /// Type name.
    pub name: String,
    /// Doc comment.
    pub doc: String,
    /// Size in bytes.
    pub size: usize,
    /// Alignment in bytes.
    pub align: usize,
    /// Whether arrays of it can be shared in place.
    pub plain: bool,
    /// Fields with offsets.
    pub fields: Vec<Slot>,
}

fn slot(name: &str, ty: &Ty, offset: usize) -> Slot {
    Slot { name: name.to_owned(), ty: ty.name(), offset }
}

fn struct_entry(d: &StructDesc) -> StructEntry {
    StructEntry {
        name: d.name.to_owned(),
        doc: d.doc.clone(),
        size: d.size,
        align: d.align,
        plain: d.plain,
        fields: d.fields.iter().map(|f| slot(f.name, &f.ty, f.offset)).collect(),
    }
}

impl Manifest {
    /// Describes `registry`.
    pub fn of(registry: &Registry) -> Manifest {
        let functions = registry
            .functions()
            .iter()
            .enumerate()
            .map(|(id, f)| FunctionEntry {
                id: id as u32,
                name: f.name.clone(),
                doc: f.doc.clone(),
                params: f.params.iter().zip(&f.args.offsets).map(|((n, t), &o)| slot(n, t, o)).collect(),
                args_size: f.args.fixed_size,
                returns: f.returns.iter().zip(&f.results.offsets).map(|(t, &o)| slot("", t, o)).collect(),
                outs: f
                    .outs
                    .iter()
                    .zip(&f.results.offsets[f.returns.len()..])
                    .map(|(&i, &o)| slot(&f.params[i].0, &f.params[i].1, o))
                    .collect(),
                result_size: f.results.fixed_size,
                batchable: f.batchable,
            })
            .collect();
        Manifest {
            protocol: PROTOCOL_VERSION,
            layout_hash: format!("{LAYOUT_HASH:016x}"),
            functions,
            structs: registry.structs().into_iter().map(struct_entry).collect(),
        }
    }

    /// The manifest as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("manifest serializes")
    }
}
