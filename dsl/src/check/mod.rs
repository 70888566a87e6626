//! Name resolution and every check of the language.
