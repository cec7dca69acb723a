//! Fault injection for the crash tests: a store wrapper that SIGKILLs its own process just
//! before the Nth write. Inert unless `STRONGROOM_TEST_KILL_AT_WRITE=N` is set.
//!
//! SIGKILL gives the process no chance to clean up, exactly like a crash; running the same
//! transfer with N = 1, 2, 3, … puts a crash before every single write of the commit path.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result, UploadPart,
};

/// The environment variable that arms the wrapper.
pub const KILL_AT_WRITE_ENV: &str = "STRONGROOM_TEST_KILL_AT_WRITE";

/// Kills the process at its Nth mutating operation (put, multipart start/part/complete,
/// copy, rename, delete).
pub struct KillAtWrite {
    inner: Arc<dyn ObjectStore>,
    state: Arc<Counter>,
}

struct Counter {
    at: u64,
    count: AtomicU64,
}

impl Counter {
    fn tick(&self) {
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            // SIGKILL cannot be caught; if it somehow returned, stop anyway.
            std::process::abort();
        }
    }
}

impl KillAtWrite {
    /// Wraps `inner` when the environment arms it; returns `inner` unchanged otherwise.
    pub fn from_env(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        match std::env::var(KILL_AT_WRITE_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(at) if at > 0 => Arc::new(KillAtWrite {
                inner,
                state: Arc::new(Counter {
                    at,
                    count: AtomicU64::new(0),
                }),
            }),
            _ => inner,
        }
    }
}

impl fmt::Debug for KillAtWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KillAtWrite({})", self.state.at)
    }
}

impl fmt::Display for KillAtWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KillAtWrite({}, {})", self.state.at, self.inner)
    }
}

#[derive(Debug)]
struct KillUpload {
    inner: Box<dyn MultipartUpload>,
    state: Arc<Counter>,
}

#[async_trait]
impl MultipartUpload for KillUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.state.tick();
        self.inner.put_part(data)
    }
    async fn complete(&mut self) -> Result<PutResult> {
        self.state.tick();
        self.inner.complete().await
    }
    async fn abort(&mut self) -> Result<()> {
        self.inner.abort().await
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counter({})", self.at)
    }
}

#[async_trait]
impl ObjectStore for KillAtWrite {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.state.tick();
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.state.tick();
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(KillUpload {
            inner,
            state: self.state.clone(),
        }))
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.state.tick();
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.state.tick();
        self.inner.copy_opts(from, to, options).await
    }
    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.state.tick();
        self.inner.rename_opts(from, to, options).await
    }
}
