//! `store`: an in-memory key/value map. Reads see earlier writes at once; the runner
//! has no transactions (tests check what `finalize-txn` writes via
//! `testing.store-contents`).

use crate::bindings::store::Host;

use super::TestHost;

impl Host for TestHost {
    fn get(&mut self, key: Vec<u8>) -> Option<Vec<u8>> {
        self.kv.get(&key).cloned()
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.kv.insert(key, value);
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.kv.remove(&key);
    }
}
