//! streamsum-host: see the crate README.
