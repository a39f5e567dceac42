"""The first module the forkserver imports (see `pool.py`, "Warm workers").

It runs in the forkserver before the services' worker modules are preloaded there, so numeric
libraries imported by them start with one thread, as they would in a worker (`THREAD_LIMITS`)."""

import os

from shared.workers.pool import THREAD_LIMITS

os.environ.update(THREAD_LIMITS)
