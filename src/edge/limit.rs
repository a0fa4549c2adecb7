//! Admission of transforms in a long-running process (`serve`): at most `concurrency`
//! at once, and at most `memory_mib` of estimated memory (see `transform::memory`) at once.
//! A miss over either bound waits up to `wait`, in arrival order (tokio's semaphores are
//! fair), then is refused with [`EdgeError::Overloaded`]: a 503 with `Retry-After`, never a
//! process killed for memory. Lambda needs none of this: one invocation per environment.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::EdgeError;

const MIB: u64 = 1 << 20;

/// The bounds and the semaphores enforcing them.
#[derive(Debug, Clone)]
pub struct Limiter {
    slots: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    memory_mib: u32,
    concurrency: usize,
    wait: Duration,
}

/// Held while a transform runs; dropping it gives the slot and the memory back.
#[derive(Debug)]
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
    _memory: OwnedSemaphorePermit,
    /// MiB reserved (the estimate, rounded up, clamped to the whole budget).
    pub mib: u32,
}

impl Limiter {
    /// `concurrency` transforms and `memory_mib` MiB at once (each at least 1); a miss waits
    /// at most `wait` for both.
    pub fn new(concurrency: usize, memory_mib: u32, wait: Duration) -> Self {
        let (memory_mib, concurrency) = (memory_mib.max(1), concurrency.max(1));
        Limiter {
            concurrency,
            slots: Arc::new(Semaphore::new(concurrency)),
            memory: Arc::new(Semaphore::new(memory_mib as usize)),
            memory_mib,
            wait,
        }
    }

    /// The limits `cfg` sets (`transform_concurrency` 0: the number of cores, divided by
    /// `decode_threads`, since a banded decode keeps that many cores busy).
    pub fn for_config(cfg: &crate::Config) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let concurrency = match cfg.transform_concurrency {
            0 => (cores / usize::from(cfg.decode_threads.max(1))).max(1),
            n => n,
        };
        Limiter::new(concurrency, cfg.transform_memory_mib, Duration::from_millis(cfg.transform_wait_ms))
    }

    /// The MiB a transform estimated at `bytes` reserves: rounded up, and clamped to the
    /// whole budget, so an original larger than the budget runs alone rather than never
    /// (the pixel limit, `max_pixels`, bounds it; a budget above the largest estimate that
    /// limit allows keeps the clamp from ever applying).
    pub fn reservation(&self, bytes: u64) -> u32 {
        bytes.div_ceil(MIB).clamp(1, u64::from(self.memory_mib)) as u32
    }

    /// Wait (at most the configured time) for a slot and the memory of `bytes`.
    pub async fn admit(&self, bytes: u64) -> Result<Admitted, EdgeError> {
        let mib = self.reservation(bytes);
        let both = async {
            let slot = self.slots.clone().acquire_owned().await;
            let memory = self.memory.clone().acquire_many_owned(mib).await;
            (slot, memory)
        };
        match tokio::time::timeout(self.wait, both).await {
            Ok((Ok(slot), Ok(memory))) => Ok(Admitted { _slot: slot, _memory: memory, mib }),
            _ => Err(EdgeError::Overloaded { retry_after_s: self.retry_after_s() }),
        }
    }

    /// What `Retry-After` says: the wait, in whole seconds, at least one.
    pub fn retry_after_s(&self) -> u32 {
        (self.wait.as_secs_f64().ceil() as u32).max(1)
    }

    /// Transforms running now.
    pub fn running(&self) -> usize {
        self.concurrency - self.slots.available_permits()
    }

    /// MiB reserved now.
    pub fn reserved_mib(&self) -> u32 {
        self.memory_mib - self.memory.available_permits() as u32
    }

    pub fn memory_mib(&self) -> u32 {
        self.memory_mib
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_slots_share_the_cores_with_decode_threads() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let with = |decode_threads, transform_concurrency| {
            let cfg = crate::Config { decode_threads, transform_concurrency, ..crate::Config::default() };
            Limiter::for_config(&cfg).concurrency()
        };
        assert_eq!(with(1, 0), cores);
        assert_eq!(with(2, 0), (cores / 2).max(1));
        assert_eq!(with(16, 0), (cores / 16).max(1));
        assert_eq!(with(2, 5), 5, "an explicit count is kept");
    }

    #[tokio::test]
    async fn over_the_memory_budget_a_miss_waits_then_is_refused() {
        let l = Limiter::new(4, 100, Duration::from_millis(50));
        let a = l.admit(60 * MIB).await.unwrap();
        assert_eq!((a.mib, l.reserved_mib(), l.running()), (60, 60, 1));
        let refused = l.admit(50 * MIB).await.unwrap_err();
        assert_eq!(refused, EdgeError::Overloaded { retry_after_s: 1 });
        assert_eq!(refused.status(), 503);
        drop(a);
        assert_eq!(l.admit(50 * MIB).await.unwrap().mib, 50);
        assert_eq!(l.reserved_mib(), 0, "given back on drop");
    }

    #[tokio::test]
    async fn over_the_concurrency_a_miss_waits_for_a_slot() {
        let l = Limiter::new(1, 1000, Duration::from_millis(500));
        let a = l.admit(1).await.unwrap();
        let waiter = tokio::spawn({
            let l = l.clone();
            async move { l.admit(1).await.map(|a| a.mib) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(a);
        assert_eq!(waiter.await.unwrap(), Ok(1));
    }

    #[tokio::test]
    async fn an_original_larger_than_the_budget_runs_alone_instead_of_never() {
        let l = Limiter::new(2, 100, Duration::from_millis(50));
        assert_eq!(l.reservation(10_000 * MIB), 100);
        assert_eq!(l.reservation(1), 1);
        let a = l.admit(10_000 * MIB).await.unwrap();
        assert!(l.admit(1).await.is_err(), "the budget is all taken");
        drop(a);
    }
}
