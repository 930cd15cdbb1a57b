//! Object sizes in one byte per object: [`ObjectSizes`].
//!
//! A heap has few distinct object sizes: every object of a span has the
//! span's slot size, small spans come in about 68 size classes, and only
//! large objects (one per span) have sizes of their own. So each object
//! keeps a one-byte code into a table of at most 255 sizes, and the objects
//! whose size found no room in the table are listed apart, by id, with
//! their sizes. Nothing here depends on a Go release's size classes.

use std::collections::HashMap;

/// The code of an object listed apart.
const APART: u8 = u8::MAX;

/// The size of every object (index = object id), 1 byte per object plus a
/// table of sizes and the few objects listed apart.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ObjectSizes {
    codes: Vec<u8>,
    /// Size by code; at most [`APART`] entries (codes below it).
    table: Vec<u64>,
    /// `(object id, size)` of the objects coded [`APART`], ascending by id.
    apart: Vec<(u32, u64)>,
}

/// Index parts that do not describe an [`ObjectSizes`].
#[derive(Debug, thiserror::Error)]
#[error("object sizes: {0}")]
pub struct InvalidSizes(&'static str);

impl ObjectSizes {
    /// From runs of objects of one size, in object order: `(objects, size)`.
    pub fn from_runs(runs: impl IntoIterator<Item = (usize, u64)>) -> ObjectSizes {
        let mut s = ObjectSizes::default();
        let mut code_of: HashMap<u64, u8> = HashMap::new();
        for (objects, size) in runs {
            let code = match code_of.get(&size) {
                Some(&code) => code,
                None if s.table.len() < usize::from(APART) => {
                    let code = s.table.len() as u8;
                    s.table.push(size);
                    code_of.insert(size, code);
                    code
                }
                None => APART,
            };
            if code == APART {
                let first = s.codes.len();
                s.apart
                    .extend((first..first + objects).map(|i| (i as u32, size)));
            }
            s.codes.resize(s.codes.len() + objects, code);
        }
        s.codes.shrink_to_fit();
        s.apart.shrink_to_fit();
        s
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The size of object `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        match self.codes[i] {
            APART => {
                // Listed (construction and `from_parts` make sure of it).
                let at = self.apart.partition_point(|&(id, _)| (id as usize) < i);
                self.apart.get(at).map_or(0, |&(_, size)| size)
            }
            code => self.table[usize::from(code)],
        }
    }

    /// The codes, the table and the objects listed apart, for the index.
    pub fn parts(&self) -> (&[u8], &[u64], &[(u32, u64)]) {
        (&self.codes, &self.table, &self.apart)
    }

    /// The inverse of [`ObjectSizes::parts`], checked: every code is in the
    /// table or [`APART`], and the objects listed apart are exactly those
    /// coded so, in order.
    pub fn from_parts(
        codes: Vec<u8>,
        table: Vec<u64>,
        apart: Vec<(u32, u64)>,
    ) -> Result<ObjectSizes, InvalidSizes> {
        if table.len() > usize::from(APART) {
            return Err(InvalidSizes("table too large"));
        }
        if codes
            .iter()
            .any(|&c| c != APART && usize::from(c) >= table.len())
        {
            return Err(InvalidSizes("code outside the table"));
        }
        let coded_apart = codes.iter().enumerate().filter(|&(_, &c)| c == APART);
        if coded_apart.clone().count() != apart.len()
            || !coded_apart
                .zip(&apart)
                .all(|((i, _), &(id, _))| id as usize == i)
        {
            return Err(InvalidSizes(
                "objects listed apart do not match their codes",
            ));
        }
        Ok(ObjectSizes {
            codes,
            table,
            apart,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &ObjectSizes) -> Vec<u64> {
        (0..s.len()).map(|i| s.get(i)).collect()
    }

    #[test]
    fn runs_round_trip() {
        let runs = [(3, 16), (0, 48), (2, 8192), (1, 16), (1, 5 << 32)];
        let s = ObjectSizes::from_runs(runs);
        assert_eq!(all(&s), [16, 16, 16, 8192, 8192, 16, 5 << 32]);
        let (codes, table, apart) = s.parts();
        let back = ObjectSizes::from_parts(codes.to_vec(), table.to_vec(), apart.to_vec());
        assert_eq!(back.unwrap(), s);
    }

    #[test]
    fn sizes_beyond_the_table_are_listed_apart() {
        // 300 distinct sizes, two objects each: the table takes 255, the
        // objects of the other 45 are listed apart.
        let runs: Vec<(usize, u64)> = (0..300u64).map(|k| (2, 8 * (k + 1))).collect();
        let s = ObjectSizes::from_runs(runs.iter().copied());
        let want: Vec<u64> = runs.iter().flat_map(|&(n, size)| vec![size; n]).collect();
        assert_eq!(all(&s), want);
        assert_eq!(s.parts().1.len(), 255);
        assert_eq!(s.parts().2.len(), 2 * (300 - 255));
    }

    #[test]
    fn inconsistent_parts_are_refused() {
        assert!(ObjectSizes::from_parts(vec![0, 1], vec![16], vec![]).is_err());
        assert!(ObjectSizes::from_parts(vec![0, APART], vec![16], vec![]).is_err());
        assert!(ObjectSizes::from_parts(vec![0, APART], vec![16], vec![(0, 8)]).is_err());
        assert!(ObjectSizes::from_parts(vec![0, APART], vec![16], vec![(1, 8)]).is_ok());
        assert!(ObjectSizes::from_parts(vec![0], vec![1; 256], vec![]).is_err());
    }
}
