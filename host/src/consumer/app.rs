//! What a shard runs inside its transactions: an [`Application`].
//!
//! Gazette's `consumer.Application` (`ConsumeMessage`, `FinalizeTxn`), batched. The
//! product runs the wasm summer ([`SummerInstance`]); benchmarks can also run the same
//! logic compiled into the host (`native.rs`, cargo feature `native-summer`), so the
//! cost of the sandbox is measured against it in the same run.

use crate::runtime::{CallError, MessageBatch, PluginVersion, SummerInstance, TxnOutput};

/// A consumer application, kept across a shard's transactions.
///
/// Calls are synchronous and may block up to the guest call deadline: the transaction
/// loop runs them on a blocking thread.
pub trait Application: Send {
    /// Consumes a batch of committed messages within the current transaction.
    ///
    /// # Errors
    /// Any [`CallError`]; the transaction is then aborted.
    fn consume(&mut self, batch: &MessageBatch) -> Result<(), CallError>;

    /// Ends the transaction: its store writes and published messages.
    ///
    /// # Errors
    /// Any [`CallError`]; the transaction is then aborted.
    fn finalize_txn(&mut self) -> Result<TxnOutput, CallError>;

    /// Discards the current transaction's effects.
    fn abort_txn(&mut self);

    /// Which version of the application this is.
    fn version(&self) -> &PluginVersion;
}

impl Application for SummerInstance {
    fn consume(&mut self, batch: &MessageBatch) -> Result<(), CallError> {
        SummerInstance::consume(self, batch)
    }

    fn finalize_txn(&mut self) -> Result<TxnOutput, CallError> {
        SummerInstance::finalize_txn(self)
    }

    fn abort_txn(&mut self) {
        SummerInstance::abort_txn(self)
    }

    fn version(&self) -> &PluginVersion {
        SummerInstance::version(self)
    }
}
