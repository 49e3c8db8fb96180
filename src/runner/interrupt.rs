use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

type Wake = Box<dyn Fn() + Send + Sync>;

/// Stops a [`Runner`](crate::Runner)'s `run()` from any thread: after an interrupt no new call
/// starts, waits for quota are given up, and `run()` returns once the calls in flight have
/// returned (their results kept; the unfinished jobs stay scheduled for the next `run`). A call
/// in flight is never abandoned: it may borrow the caller's data (the workers are scoped
/// threads). To end at once, end the process: a second Ctrl-C does, with
/// [`on_ctrl_c`](Self::on_ctrl_c).
///
/// ```
/// use tollgate::Runner;
///
/// let mut runner = Runner::new(|x: &u32| Ok::<u32, String>(x + 1));
/// let stop = runner.interrupt_handle();
/// std::thread::spawn(move || stop.interrupt()); // e.g. from a UI thread
/// # let _ = runner.run();
/// ```
#[derive(Clone, Default)]
pub struct InterruptHandle {
    shared: Arc<InterruptShared>,
}

#[derive(Default)]
struct InterruptShared {
    /// Interrupts since the current run began.
    count: AtomicU32,
    /// Wakes the running `run()`, if one is running.
    wake: Mutex<Option<Wake>>,
    /// Calls started and not returned.
    in_flight: AtomicUsize,
}

impl InterruptHandle {
    /// Interrupts the current (or next) run.
    pub fn interrupt(&self) {
        self.shared.count.fetch_add(1, Ordering::SeqCst);
        if let Some(wake) = &*self.shared.wake.lock() {
            wake();
        }
    }

    /// Interrupts received since the current run began.
    pub fn count(&self) -> u32 {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Calls of the runner's function started and not yet returned: what an interrupted run
    /// still waits for before it returns (waits for quota are given up at once). 0 between runs.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use tollgate::Runner;
    ///
    /// let (started, call_started) = mpsc::channel();
    /// let (release, released) = mpsc::channel::<()>();
    /// let released = std::sync::Mutex::new(released);
    /// let mut runner = Runner::new(move |x: &u32| {
    ///     started.send(()).unwrap();
    ///     released.lock().unwrap().recv().unwrap();
    ///     Ok::<u32, String>(*x)
    /// });
    /// runner.schedule(1)?;
    /// let stop = runner.interrupt_handle();
    /// let watcher = std::thread::spawn(move || {
    ///     call_started.recv().unwrap();
    ///     stop.interrupt();
    ///     let in_flight = stop.calls_in_flight(); // "waiting for 1 call still running"
    ///     release.send(()).unwrap();
    ///     in_flight
    /// });
    /// let report = runner.run();
    /// assert_eq!(watcher.join().unwrap(), 1);
    /// assert_eq!(report.results, vec![Some(1)]); // the call in flight finished and was kept
    /// assert_eq!(runner.interrupt_handle().calls_in_flight(), 0);
    /// # Ok::<(), tollgate::RunnerError>(())
    /// ```
    pub fn calls_in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// A call starts (`started`) or returns.
    pub(super) fn call_in_flight(&self, started: bool) {
        if started {
            self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        } else {
            self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Interrupts the runs of this handle's runner on Ctrl-C (SIGINT), instead of ending the
    /// process; a second Ctrl-C before the run returns ends the process at once, with exit
    /// status 130, as Ctrl-C does without a handler (what a journal recorded is kept). The
    /// process-wide handler is installed on first use.
    ///
    /// # Errors
    /// The handler could not be installed (another one is).
    #[cfg(feature = "ctrlc")]
    pub fn on_ctrl_c(&self) -> Result<(), ctrlc::Error> {
        static HANDLES: Mutex<Vec<InterruptHandle>> = Mutex::new(Vec::new());
        static INSTALLED: Mutex<bool> = Mutex::new(false);
        let mut installed = INSTALLED.lock();
        if !*installed {
            ctrlc::set_handler(|| {
                let handles = HANDLES.lock();
                if handles.iter().any(|handle| handle.count() > 0) {
                    std::process::exit(130);
                }
                handles.iter().for_each(InterruptHandle::interrupt);
            })?;
            *installed = true;
        }
        HANDLES.lock().push(self.clone());
        Ok(())
    }

    pub(super) fn begin_run(&self, wake: impl Fn() + Send + Sync + 'static) {
        let mut slot = self.shared.wake.lock();
        // An interrupt issued before the run interrupts it at once.
        for _ in 0..self.count() {
            wake();
        }
        *slot = Some(Box::new(wake));
    }

    /// The run is over: later interrupts are for the next run.
    pub(super) fn end_run(&self) {
        *self.shared.wake.lock() = None;
        self.shared.count.store(0, Ordering::SeqCst);
    }
}

impl fmt::Debug for InterruptHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterruptHandle")
            .field("count", &self.count())
            .field("calls_in_flight", &self.calls_in_flight())
            .finish()
    }
}
