//! [`Function`] (one exported function with its record layouts), [`Generic`] (overloads of one
//! function told apart by an element type) and [`Registry`] (all of them, in id order).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::batch::RunBatch;
use super::ty::{RecordLayout, StructDesc, Ty};
use crate::codec::{ArgReader, Failure, RetWriter};
use crate::layout::constants::{DEFAULT_REQUEST_CAPACITY, DEFAULT_RESPONSE_CAPACITY};

/// The type-erased body the macros generate: decode arguments, call, encode results.
pub type Invoke = fn(&ArgReader<'_>, &mut RetWriter<'_>) -> Result<(), Failure>;

/// One exported function.
#[derive(Debug)]
pub struct Function {
    /// Name (a Python identifier). An overload of a generic function is named `name[element]`
    /// (`sum[f64]`): logs and the daemon's counts show it so.
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

/// A generic function (SPEC §7): one name and doc for several overloads, each a [`Function`] with
/// an id of its own, told apart by the element type ([`Ty::element`]) of one parameter.
#[derive(Debug)]
pub struct Generic {
    /// Name.
    pub name: String,
    /// Doc comment.
    pub doc: String,
    /// Index of the parameter whose element type picks the overload.
    pub dispatch: usize,
    /// The overloads' ids, consecutive.
    pub ids: Range<u32>,
}

/// Every exported function; a function's id is its index.
#[derive(Debug, Default)]
pub struct Registry {
    functions: Vec<Function>,
    by_name: HashMap<String, u32>,
    generics: Vec<Generic>,
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
        assert!(
            !self.by_name.contains_key(&f.name) && self.generic(&f.name).is_none(),
            "function {} exported twice",
            f.name
        );
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

    /// Adds the overloads of one generic function, made from one Rust function for several element
    /// types (`export!` with `<T: Bound in [f32, f64]>`). Each carries the function's name, doc and
    /// parameter names; they are told apart by the first parameter whose element type differs
    /// between them, and get consecutive ids, each named `name[element]`.
    ///
    /// # Panics
    /// On fewer than two overloads, overloads of different names or parameters, no parameter
    /// telling them apart (or two with the same element type there), and as [`Registry::add`].
    pub fn add_generic(&mut self, overloads: Vec<Function>) {
        let first = overloads.first().expect("a generic function has overloads");
        let name = first.name.clone();
        assert!(overloads.len() >= 2, "generic function {name}: one type; export it as a plain function");
        let names = |f: &Function| f.params.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert!(
            overloads.iter().all(|f| f.name == name && names(f) == names(first)),
            "generic function {name}: overloads of different names or parameters"
        );
        assert!(!self.by_name.contains_key(&name) && self.generic(&name).is_none(), "function {name} exported twice");
        let element = |f: &Function, i: usize| f.params[i].1.element().name();
        let dispatch = (0..first.params.len())
            .find(|&i| overloads.iter().any(|f| element(f, i) != element(first, i)))
            .unwrap_or_else(|| panic!("generic function {name}: no parameter's type tells the overloads apart"));
        let elements: Vec<String> = overloads.iter().map(|f| element(f, dispatch)).collect();
        assert!(
            elements.iter().collect::<HashSet<_>>().len() == elements.len(),
            "generic function {name}: two overloads for {} element type {elements:?}",
            first.params[dispatch].0
        );
        let doc = first.doc.clone();
        let start = self.functions.len() as u32;
        for (mut f, element) in overloads.into_iter().zip(elements) {
            f.name = format!("{name}[{element}]");
            self.add(f);
        }
        self.generics.push(Generic { name, doc, dispatch, ids: start..self.functions.len() as u32 });
    }

    /// The function with this id.
    pub fn get(&self, id: u32) -> Option<&Function> {
        self.functions.get(id as usize)
    }

    /// The id of the function with this name (an overload's: `sum[f64]`).
    pub fn id(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The generic function with this name.
    pub fn generic(&self, name: &str) -> Option<&Generic> {
        self.generics.iter().find(|g| g.name == name)
    }

    /// The generic function whose overloads include id `id`.
    pub fn generic_of(&self, id: u32) -> Option<&Generic> {
        self.generics.iter().find(|g| g.ids.contains(&id))
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
