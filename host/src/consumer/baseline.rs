//! The benchmark baseline: the summer's logic compiled into the host (`native.rs`,
//! cargo feature `native-summer`) as an [`Application`], so that benchmarks measure the
//! sandbox against it in the same run. Builds without the feature refuse it by name.

use super::app::Application;
use crate::store::ShardDb;

/// The native summer over `db`, for benchmarks.
///
/// # Errors
/// The host was built without the `native-summer` feature.
pub fn native_summer(db: ShardDb) -> anyhow::Result<Box<dyn Application>> {
    #[cfg(feature = "native-summer")]
    return Ok(Box::new(super::native::NativeSummer::new(db)));
    #[cfg(not(feature = "native-summer"))]
    {
        let _ = db;
        anyhow::bail!("this streamsum-host was built without the native-summer feature")
    }
}
