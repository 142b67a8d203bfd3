package io.loraserve.server;

import io.loraserve.engine.Engine;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Holds the engine thread between two steps until closed, so a test can change adapters at a known point of a
 * running batch: requests already running stay mid-generation, new ones queue. Gives up after a minute so a failing
 * test cannot wedge the engine.
 */
final class EnginePause implements AutoCloseable {
    private final CountDownLatch release = new CountDownLatch(1);

    EnginePause(Engine engine) {
        CountDownLatch entered = new CountDownLatch(1);
        engine.execute(() -> {
            entered.countDown();
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            if (!entered.await(30, TimeUnit.SECONDS)) {
                throw new AssertionError("the engine did not reach a step boundary within 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Polls {@code condition} every 2 ms for up to 30 s. */
    static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    @Override
    public void close() {
        release.countDown();
    }
}
