//! What the graph reports (`path-to-root`, `dominators`, `refs`, `inspect`)
//! share: the core for memory and names, the heap model, and how an object
//! and a root are shown.

use anyhow::Result;
use gocore::describe::Describer;
use gocore::graph::RootNode;
use gocore::heap::ObjId;
use gocore::model::HeapModel;
use gocore::process::Core;
use gocore::query::{Node, StepNamer};
use gotypes::rtype::TypeReader;
use serde::Serialize;

pub use super::RootJson;

pub struct View<'a> {
    pub core: &'a Core,
    pub model: &'a HeapModel,
    rtypes: TypeReader<'a>,
}

/// An object as JSON shows it.
#[derive(Serialize)]
pub struct ObjectJson {
    pub address: String,
    pub r#type: String,
    pub size: u64,
}

impl<'a> View<'a> {
    pub fn new(core: &'a Core, model: &'a HeapModel) -> Result<View<'a>> {
        Ok(View {
            core,
            model,
            rtypes: core.type_reader(),
        })
    }

    /// Run `f` with a namer for path steps.
    pub fn with_namer<R>(&self, f: impl FnOnce(&StepNamer<'_>) -> R) -> R {
        let describer = Describer::new(self.core, &self.rtypes);
        f(&StepNamer {
            model: self.model,
            core: self.core,
            describer: &describer,
        })
    }

    pub fn describer(&self) -> Describer<'_> {
        Describer::new(self.core, &self.rtypes)
    }

    pub fn object(&self, id: ObjId) -> ObjectJson {
        ObjectJson {
            address: self.model.user_addr(id).to_string(),
            r#type: self.model.display_name(id),
            size: self.model.size(id),
        }
    }

    pub fn root(&self, r: &RootNode) -> RootJson {
        RootJson {
            kind: if r.is_goroutine {
                "goroutine"
            } else {
                r.kind.as_str()
            },
            name: self.model.root_name(r).to_string(),
            function: self.model.root_function(r).map(str::to_string),
            goroutine: r.goroutine,
        }
    }

    /// One-line label of a graph node for tables.
    pub fn node_label(&self, v: u32) -> String {
        match self.model.node(v) {
            Node::Object(id) => format!(
                "{} {}",
                self.model.user_addr(id),
                self.model.display_name(id)
            ),
            Node::Root(r) => {
                let r = self.root(r);
                format!("{} {}", r.kind, r.label())
            }
            Node::All => "(several roots)".into(),
        }
    }
}
