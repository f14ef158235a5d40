//! The catalog's global notes: what the builder skipped, merged or resolved, counted, with up to
//! five examples each (in input order), written sorted by text.

use std::collections::BTreeMap;

/// Examples kept per note.
const SAMPLES: usize = 5;

/// Counters and examples, rendered deterministically.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    entries: BTreeMap<String, (u64, Vec<String>)>,
}

impl Notes {
    /// Counts one occurrence of `key`.
    pub(crate) fn count(&mut self, key: &str) {
        self.entry(key).0 += 1;
    }

    /// Counts one occurrence of `key`, with an example.
    pub(crate) fn add(&mut self, key: &str, sample: impl Into<String>) {
        let e = self.entry(key);
        e.0 += 1;
        let sample = sample.into();
        if e.1.len() < SAMPLES && !e.1.contains(&sample) {
            e.1.push(sample);
        }
    }

    /// Adds what `other` counted, as if it had been counted here after what is here already
    /// (its examples are the first five of its occurrences, so the first five overall survive).
    pub(crate) fn absorb(&mut self, other: Notes) {
        for (key, (n, samples)) in other.entries {
            let e = self.entry(&key);
            e.0 += n;
            for s in samples {
                if e.1.len() < SAMPLES && !e.1.contains(&s) {
                    e.1.push(s);
                }
            }
        }
    }

    /// Occurrences counted under keys starting with `prefix`.
    pub(crate) fn count_of(&self, prefix: &str) -> u64 {
        self.entries
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, (n, _))| n)
            .sum()
    }

    fn entry(&mut self, key: &str) -> &mut (u64, Vec<String>) {
        if !self.entries.contains_key(key) {
            self.entries.insert(key.to_owned(), (0, Vec::new()));
        }
        // Just inserted if absent.
        self.entries.entry(key.to_owned()).or_default()
    }

    /// `"<key>: <count> (e.g. a, b)"`, sorted by key.
    pub(crate) fn render(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(k, (n, samples))| {
                if samples.is_empty() {
                    format!("{k}: {n}")
                } else {
                    format!("{k}: {n} (e.g. {})", samples.join(", "))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbing_notes_equals_counting_them_here() {
        let seq: Vec<(&str, String)> = (0..9)
            .map(|i| (["a", "b"][i % 2], format!("s{}", i % 7)))
            .collect();
        for split in 0..=seq.len() {
            let mut direct = Notes::default();
            direct.add("a", "s6");
            for (k, s) in &seq {
                direct.add(k, s.clone());
            }
            let mut here = Notes::default();
            here.add("a", "s6");
            for (k, s) in &seq[..split] {
                here.add(k, s.clone());
            }
            let mut other = Notes::default();
            for (k, s) in &seq[split..] {
                other.add(k, s.clone());
            }
            here.absorb(other);
            assert_eq!(here.render(), direct.render(), "split at {split}");
        }
    }
}
