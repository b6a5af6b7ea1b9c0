//! The contract checks run on the in-memory implementations of keptn-core.

use keptn_core::memory::{MemoryConfigRepo, MemoryStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_meets_the_store_contract() {
    super::check_store(|| async { MemoryStore::new() }).await;
}

#[tokio::test]
async fn memory_config_repo_meets_the_config_repo_contract() {
    super::check_config_repo(&MemoryConfigRepo::new()).await;
}
