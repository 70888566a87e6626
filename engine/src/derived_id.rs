//! Ids derived from names: the same name always gives the same id, so whoever makes a thing
//! again (another process, or this one after a crash) finds the first one instead of making
//! a second.

use sha2::{Digest, Sha256};

/// A UUID (version 4 in form) made of the first 16 bytes of the SHA-256 of `name`.
///
/// Stored ids were made this way: changing it would make a restarted step start a second
/// child run, or a cron tick a second run.
pub(crate) fn derived_uuid(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_gives_the_same_uuid() {
        let a = derived_uuid("child:r1/s");
        assert_eq!(a, derived_uuid("child:r1/s"));
        assert_ne!(a, derived_uuid("child:r1/t"));
        assert_eq!(
            uuid::Uuid::parse_str(&a).map(|u| u.get_version_num()).ok(),
            Some(4)
        );
    }
}
