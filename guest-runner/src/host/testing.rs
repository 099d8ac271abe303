//! `testing`: lets a guest's unit tests inspect and reset the in-memory host.

use crate::bindings::testing::Host;
use crate::native_summer::NativeSummer;

use super::TestHost;

impl Host for TestHost {
    fn reset(&mut self) {
        self.kv.clear();
        self.published.clear();
        self.chunks.clear();
        self.pushed_sums.clear();
        self.auto_sum = true;
        self.summer = NativeSummer::default();
        self.files.clear();
    }

    fn take_published(&mut self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut self.published)
    }

    fn store_contents(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn take_chunks(&mut self) -> Vec<(u32, Vec<u8>)> {
        std::mem::take(&mut self.chunks)
    }

    fn push_sum(&mut self, sum: Vec<u8>) {
        self.pushed_sums.push_back(sum);
    }

    fn set_auto_sum(&mut self, enabled: bool) {
        self.auto_sum = enabled;
    }

    fn set_files(&mut self, files: Vec<Vec<u8>>) {
        self.files = files;
    }
}
