package io.loraserve.loadtest;

import io.loraserve.constraint.Constraint;
import io.loraserve.engine.FinishReason;
import io.loraserve.engine.ModelRuntime;
import io.loraserve.engine.Request;
import io.loraserve.engine.StepCounts;
import io.loraserve.engine.TokenSink;
import io.loraserve.lora.Adapter;
import io.loraserve.model.Sampler;
import io.loraserve.model.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Submits requests (greedy unless a job says otherwise) straight to a {@link ModelRuntime}'s engine
 * (no HTTP) and records when each token arrived, so benchmarks measure the engine and nothing else.
 */
final class EngineDriver {
    private static final AtomicLong IDS = new AtomicLong();
    private final ModelRuntime runtime;

    EngineDriver(ModelRuntime runtime) {
        this.runtime = runtime;
    }

    /** One request to run: adapter name (null = base), prompt, length, how it samples and its constraint (or null). */
    record Job(String adapter, int[] prompt, int maxTokens, SamplingParams sampling, Constraint constraint) {
        Job(String adapter, int[] prompt, int maxTokens) {
            this(adapter, prompt, maxTokens, SamplingParams.GREEDY, null);
        }
    }

    /** When each generated token of one request arrived (nanoTime), the tokens, and its prompt tokens found cached. */
    static final class Trace implements TokenSink {
        final long submitted = System.nanoTime();
        final List<Long> tokens = new ArrayList<>();
        private final List<Integer> ids = new ArrayList<>();
        volatile int cachedTokens;
        final CountDownLatch done = new CountDownLatch(1);
        volatile String error;

        @Override
        public boolean onToken(Sampler.Sample sample) {
            synchronized (tokens) {
                tokens.add(System.nanoTime());
                ids.add(sample.token());
            }
            return true;
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens, int cachedTokens) {
            this.cachedTokens = cachedTokens;
            done.countDown();
        }

        @Override
        public void onError(String message, boolean overloaded) {
            error = message;
            done.countDown();
        }

        int[] ids() {
            synchronized (tokens) {
                return ids.stream().mapToInt(Integer::intValue).toArray();
            }
        }

        long first() {
            return tokens.get(0);
        }

        long last() {
            return tokens.get(tokens.size() - 1);
        }

        /** Mean time per output token after the first. */
        double tpotNanos() {
            return tokens.size() < 2 ? Double.NaN : (double) (last() - first()) / (tokens.size() - 1);
        }
    }

    Trace submit(Job job) {
        Trace trace = new Trace();
        Adapter lease = job.adapter() == null ? null : runtime.registry().acquire(job.adapter());
        runtime.engine().submit(new Request("bench-" + IDS.incrementAndGet(), job.prompt(), lease,
                job.sampling(), job.maxTokens(), Set.of(), true, -1, trace, job.constraint()));
        return trace;
    }

    /** Submits all jobs at once and waits for them. */
    List<Trace> runTogether(List<Job> jobs) throws InterruptedException {
        List<Trace> traces = jobs.stream().map(this::submit).toList();
        for (Trace t : traces) {
            await(t);
        }
        return traces;
    }

    /** Runs the jobs one after another. */
    List<Trace> runOneByOne(List<Job> jobs) throws InterruptedException {
        List<Trace> traces = new ArrayList<>();
        for (Job j : jobs) {
            Trace t = submit(j);
            await(t);
            traces.add(t);
        }
        return traces;
    }

    /**
     * Submits the jobs, waits until every one has its first token (all prefills done), counts the
     * native ops and host syncs of the next {@code steps} steps (pure decode while no job ends), and
     * waits for the jobs.
     */
    StepCounts countDecodeSteps(List<Job> jobs, int steps) throws InterruptedException {
        List<Trace> traces = jobs.stream().map(this::submit).toList();
        for (Trace t : traces) {
            while (t.tokens.isEmpty() && t.done.getCount() > 0) {
                Thread.sleep(1);
            }
        }
        StepCounts counts = runtime.engine().countSteps(steps).join();
        for (Trace t : traces) {
            await(t);
        }
        return counts;
    }

    static void await(Trace t) throws InterruptedException {
        if (!t.done.await(30, TimeUnit.MINUTES) || t.error != null) {
            throw new IllegalStateException("benchmark request failed: " + t.error);
        }
    }

    /**
     * Decode throughput of requests that ran together: tokens that arrived after every request had
     * its first token (all prefills done), per second of that window.
     */
    static double decodeTokensPerSecond(List<Trace> traces) {
        long start = traces.stream().mapToLong(Trace::first).max().orElseThrow();
        long end = traces.stream().mapToLong(Trace::last).max().orElseThrow();
        long count = traces.stream().flatMap(t -> t.tokens.stream()).filter(ts -> ts > start).count();
        return count / ((end - start) / 1e9);
    }

    /**
     * As {@link #decodeTokensPerSecond}, over the window in which every request is still running
     * (after the last first token, up to the first request's last token), so requests that end
     * early (a constrained output that completes) do not leave a thinner batch in the window.
     */
    static double decodeTokensPerSecondWhileAllRun(List<Trace> traces) {
        long start = traces.stream().mapToLong(Trace::first).max().orElseThrow();
        long end = traces.stream().mapToLong(Trace::last).min().orElseThrow();
        long count = traces.stream().flatMap(t -> t.tokens.stream()).filter(ts -> ts > start && ts <= end).count();
        return count / ((end - start) / 1e9);
    }

    /** Generated tokens per second of wall time, from the first submission to the last token. */
    static double endToEndTokensPerSecond(List<Trace> traces) {
        long start = traces.stream().mapToLong(t -> t.submitted).min().orElseThrow();
        long end = traces.stream().mapToLong(Trace::last).max().orElseThrow();
        long count = traces.stream().mapToLong(t -> t.tokens.size()).sum();
        return count / ((end - start) / 1e9);
    }
}
