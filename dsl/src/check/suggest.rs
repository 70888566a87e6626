//! "Did you mean …?": the shared edit-distance suggestion, plus two kinds of typo it misses
//! (two swapped letters, `cmr` for `crm`; a prefix, `integer` for `int`).

use crate::diagnostic::did_you_mean;

/// The candidate `name` was most likely meant to be, if any.
pub(crate) fn suggest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    // One edit turns any short name into any other (`x` into `a`): no evidence of a typo.
    let short = name.chars().count() < 3;
    if !short {
        if let Some(best) = did_you_mean(name, candidates.clone()) {
            return Some(best);
        }
    }
    let mut fallback = None;
    for c in candidates {
        if c == name {
            continue;
        }
        if c.eq_ignore_ascii_case(name) || is_transposition(name, c) {
            return Some(c);
        }
        let (prefix, long) = if c.len() < name.len() {
            (c, name)
        } else {
            (name, c)
        };
        if fallback.is_none() && !short && prefix.len() >= 3 && long.starts_with(prefix) {
            fallback = Some(c);
        }
    }
    fallback
}

/// Whether `a` becomes `b` by swapping two adjacent characters.
fn is_transposition(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() != b.len() {
        return false;
    }
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    matches!(diff.as_slice(), [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_swaps_prefixes_and_case() {
        assert_eq!(suggest("cmr", ["crm", "billing"]), Some("crm"));
        assert_eq!(suggest("integer", ["string", "int", "number"]), Some("int"));
        assert_eq!(suggest("contcat", ["contact", "deal"]), Some("contact"));
        assert_eq!(suggest("UTC", ["utc"]), Some("utc"));
        assert_eq!(suggest("zz", ["crm"]), None);
        assert_eq!(
            suggest("ab", ["abcdef"]),
            None,
            "prefixes shorter than 3 say too little"
        );
        assert_eq!(suggest("x", ["a"]), None, "one letter is no evidence");
        assert_eq!(
            suggest("ba", ["ab"]),
            Some("ab"),
            "swaps count even in short names"
        );
    }
}
