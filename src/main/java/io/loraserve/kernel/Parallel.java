package io.loraserve.kernel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A fork-join of one caller and {@code threads - 1} resident workers, for the CPU kernels of one
 * forward pass. {@link #run} splits work into numbered chunks that every thread takes from a
 * shared counter (so a slow core does fewer), and returns when all are done.
 *
 * <p>Why not a {@code ForkJoinPool}: a decode step forks ~150 times (four matrices a layer,
 * attention, logits) and each fork's work is 20–200 µs, so the hand-off must cost a few µs.
 * Workers spin for {@link #SPIN_NANOS} after a fork before they park, which keeps the hand-off
 * at a memory write between the forks of one step and costs nothing while the engine is idle.
 *
 * <p>Lifetime: process (owned by the model; {@link #close} ends the workers). One caller thread
 * at a time (the engine thread); {@code run} is not reentrant.
 */
public final class Parallel implements AutoCloseable {
    private static final long SPIN_NANOS = 200_000;

    private final Thread[] workers;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicInteger busy = new AtomicInteger();
    private volatile IntConsumer task;
    private volatile int chunks;
    private volatile long generation;
    private volatile boolean closed;
    private volatile Throwable failure;

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be positive: " + threads);
        }
        workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = Thread.ofPlatform().name("kernel-" + (i + 1)).daemon(true).start(this::work);
        }
    }

    /** Threads that run chunks, the caller included. */
    public int threads() {
        return workers.length + 1;
    }

    /**
     * Runs {@code body.accept(i)} for every {@code i} in {@code [0, chunks)}, spread over the
     * threads; returns when all have run. An exception in any chunk is rethrown here.
     */
    public void run(int chunks, IntConsumer body) {
        if (chunks <= 1 || workers.length == 0) {
            for (int i = 0; i < chunks; i++) {
                body.accept(i);
            }
            return;
        }
        this.task = body;
        this.chunks = chunks;
        next.set(0);
        busy.set(workers.length);
        generation++;  // volatile write: publishes task, chunks and next
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        Throwable mine = null;
        try {
            drain(body, chunks);
        } catch (Throwable t) {
            mine = t;
        }
        while (busy.get() > 0) {
            Thread.onSpinWait();
        }
        task = null;
        Throwable theirs = failure;
        failure = null;
        if (mine != null || theirs != null) {
            Throwable t = mine != null ? mine : theirs;
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(t);
        }
    }

    private void drain(IntConsumer body, int chunks) {
        for (int i; (i = next.getAndIncrement()) < chunks; ) {
            body.accept(i);
        }
    }

    private void work() {
        long seen = 0;
        while (true) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (generation == seen && !closed) {
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            if (closed) {
                return;
            }
            seen = generation;
            try {
                drain(task, chunks);
            } catch (Throwable t) {
                failure = t;
                next.set(Integer.MAX_VALUE / 2);  // the others stop taking chunks
            } finally {
                busy.decrementAndGet();
            }
        }
    }

    /** Splits {@code [0, n)} into chunk {@code i} of {@code chunks}, each a multiple of {@code align} but the last. */
    public static int from(int n, int chunks, int align, int i) {
        long per = ((long) n + chunks - 1) / chunks;
        per = (per + align - 1) / align * align;
        return (int) Math.min(n, per * i);
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
