//! The manifest (SPEC §7): the JSON description of every function and struct type that the daemon
//! sends in the handshake and `shmcalld functions` prints. The client builds its callables and
//! struct types from it; offsets are given explicitly so no side has to re-derive the other's layout.

use serde::Serialize;

use super::function::{Function, Registry};
use super::ty::{StructDesc, Ty};
use crate::layout::constants::{LAYOUT_HASH, PROTOCOL_VERSION};

/// The whole manifest.
#[derive(Debug, Serialize)]
pub struct Manifest {
    /// Protocol version.
    pub protocol: u32,
    /// Layout hash, as a hex string (JSON numbers cannot hold every u64 exactly).
    pub layout_hash: String,
    /// Functions in id order (a generic function at its first overload's id).
    pub functions: Vec<FunctionEntry>,
    /// Struct types, each after the structs it contains.
    pub structs: Vec<StructEntry>,
}

/// One function: a plain one, or a generic one with its overloads.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FunctionEntry {
    /// A function with one signature.
    Plain {
        /// Function id (its index).
        id: u32,
        /// Name.
        name: String,
        /// Doc comment.
        doc: String,
        /// Its signature.
        #[serde(flatten)]
        signature: Signature,
    },
    /// A generic function: one name and doc, an overload per element type.
    Generic {
        /// Name.
        name: String,
        /// Doc comment.
        doc: String,
        /// The parameter whose element type picks the overload.
        dispatch: String,
        /// The overloads, in id order.
        overloads: Vec<Overload>,
    },
}

impl FunctionEntry {
    /// The function's name.
    pub fn name(&self) -> &str {
        match self {
            FunctionEntry::Plain { name, .. } | FunctionEntry::Generic { name, .. } => name,
        }
    }

    /// The function's doc comment.
    pub fn doc(&self) -> &str {
        match self {
            FunctionEntry::Plain { doc, .. } | FunctionEntry::Generic { doc, .. } => doc,
        }
    }

    /// Its signatures: one, or one per overload.
    pub fn signatures(&self) -> Vec<&Signature> {
        match self {
            FunctionEntry::Plain { signature, .. } => vec![signature],
            FunctionEntry::Generic { overloads, .. } => overloads.iter().map(|o| &o.signature).collect(),
        }
    }
}

/// One overload of a generic function.
#[derive(Debug, Serialize)]
pub struct Overload {
    /// Function id: each overload is called by its own.
    pub id: u32,
    /// The dispatch parameter's element type in this overload, unique among the overloads.
    pub element: String,
    /// Its signature.
    #[serde(flatten)]
    pub signature: Signature,
}

/// A function's (or an overload's) parameters and results with their record layouts.
#[derive(Debug, Serialize)]
pub struct Signature {
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

fn signature(f: &Function) -> Signature {
    Signature {
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
    }
}

impl Manifest {
    /// Describes `registry`.
    pub fn of(registry: &Registry) -> Manifest {
        let mut functions = Vec::new();
        for (id, f) in (0u32..).zip(registry.functions()) {
            match registry.generic_of(id) {
                None => functions.push(FunctionEntry::Plain {
                    id,
                    name: f.name.clone(),
                    doc: f.doc.clone(),
                    signature: signature(f),
                }),
                Some(g) if g.ids.start == id => functions.push(FunctionEntry::Generic {
                    name: g.name.clone(),
                    doc: g.doc.clone(),
                    dispatch: f.params[g.dispatch].0.clone(),
                    overloads: g
                        .ids
                        .clone()
                        .filter_map(|id| registry.get(id).map(|o| (id, o)))
                        .map(|(id, o)| Overload {
                            id,
                            element: o.params[g.dispatch].1.element().name(),
                            signature: signature(o),
                        })
                        .collect(),
                }),
                Some(_) => {} // an overload after the first: listed with it
            }
        }
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
