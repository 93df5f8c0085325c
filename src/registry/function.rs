//! [`Function`] (one exported function with its record layouts) and [`Registry`] (all of them, in
//! id order).

use std::collections::HashMap;

use super::batch::RunBatch;
use super::ty::{RecordLayout, StructDesc, Ty};
use crate::codec::{ArgReader, Failure, RetWriter};
use crate::layout::constants::{DEFAULT_REQUEST_CAPACITY, DEFAULT_RESPONSE_CAPACITY};

/// The type-erased body the macros generate: decode arguments, call, encode results.
pub type Invoke = fn(&ArgReader<'_>, &mut RetWriter<'_>) -> Result<(), Failure>;

/// One exported function.
#[derive(Debug)]
pub struct Function {
    /// Name (a Python identifier).
    pub name: String,
    /// Doc comment.
    pub doc: String,
    /// Parameter names and types.
    pub params: Vec<(String, Ty)>,
    /// Result types (empty: returns nothing; several: a tuple).
    pub returns: Vec<Ty>,
    /// Offsets of the parameters in the argument record.
    pub args: RecordLayout,
    /// Offsets of the results, then of each in-out parameter's final state, in the result record.
    pub results: RecordLayout,
    /// Indexes of the in-out parameters whose final state follows the results.
    pub outs: Vec<usize>,
    /// The generated body.
    pub invoke: Invoke,
    /// The generated body's loop over a batch's records (used only if `batchable`).
    pub run_batch: RunBatch,
    /// Every parameter and result is fixed-size and there are no in-out parameters, so many calls
    /// can go in one batch request (`FN_BATCH`).
    pub batchable: bool,
}

impl Function {
    /// Describes a function; `export!` calls this.
    pub fn new(
        name: &str,
        doc: &str,
        params: Vec<(&str, Ty)>,
        returns: Vec<Ty>,
        invoke: Invoke,
        run_batch: RunBatch,
    ) -> Function {
        let outs: Vec<usize> = params
            .iter()
            .enumerate()
            .filter(|(_, (_, t))| matches!(t, Ty::InOut(_) | Ty::VecMut(_)))
            .map(|(i, _)| i)
            .collect();
        let args = RecordLayout::of(params.iter().map(|(_, t)| t));
        let batchable = outs.is_empty() && params.iter().all(|(_, t)| t.is_fixed()) && returns.iter().all(Ty::is_fixed);
        let results = RecordLayout::of(returns.iter().chain(outs.iter().map(|&i| &params[i].1)));
        Function {
            name: name.to_owned(),
            doc: doc.lines().map(str::trim).collect::<Vec<_>>().join("\n").trim().to_owned(),
            params: params.into_iter().map(|(n, t)| (n.to_owned(), t)).collect(),
            returns,
            args,
            results,
            outs,
            invoke,
            run_batch,
            batchable,
        }
    }
}

/// Every exported function; a function's id is its index.
#[derive(Debug, Default)]
pub struct Registry {
    functions: Vec<Function>,
    by_name: HashMap<String, u32>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds a function.
    ///
    /// # Panics
    /// On a duplicate name, a struct name used for two layouts, or a record that cannot fit a slot:
    /// these are mistakes in the daemon's own code, found at start-up.
    pub fn add(&mut self, f: Function) {
        assert!(!self.by_name.contains_key(&f.name), "function {} exported twice", f.name);
        assert!(
            f.args.fixed_size <= DEFAULT_REQUEST_CAPACITY as usize,
            "{}: argument record of {} bytes exceeds the request capacity",
            f.name,
            f.args.fixed_size
        );
        assert!(
            f.results.fixed_size <= DEFAULT_RESPONSE_CAPACITY as usize,
            "{}: result record of {} bytes exceeds the response capacity",
            f.name,
            f.results.fixed_size
        );
        let mut mine = Vec::new();
        for t in f.params.iter().map(|(_, t)| t).chain(&f.returns) {
            t.structs(&mut mine);
        }
        let known = self.structs();
        for s in mine {
            if let Some(k) = known.iter().find(|k| k.name == s.name) {
                assert!(std::ptr::eq(*k, s) || *k == s, "struct name {} used for two different layouts", s.name);
            }
        }
        self.by_name.insert(f.name.clone(), self.functions.len() as u32);
        self.functions.push(f);
    }

    /// The function with this id.
    pub fn get(&self, id: u32) -> Option<&Function> {
        self.functions.get(id as usize)
    }

    /// The id of the function with this name.
    pub fn id(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// All functions in id order.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// Every struct type any signature mentions, each after the structs it contains.
    pub fn structs(&self) -> Vec<&'static StructDesc> {
        let mut out = Vec::new();
        for f in &self.functions {
            for t in f.params.iter().map(|(_, t)| t).chain(&f.returns) {
                t.structs(&mut out);
            }
        }
        out
    }
}
