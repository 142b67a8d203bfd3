package io.loraserve.engine;

import io.loraserve.model.Sampler;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine's postprocess: hands each sampled token to its request's {@link TokenSink}, ends the requests that are
 * done (stop, length), cancelled or failed, and frees what each held: its KV blocks (through the {@link Scheduler})
 * and its adapter reference. Each end is told once to the sink and to the {@link EngineListener}. Engine thread only.
 */
final class Delivery {
    private static final Logger LOG = Logger.getLogger(Delivery.class.getName());

    private final Scheduler scheduler;
    private final IntPredicate eos;
    private final int maxModelLen;
    private volatile EngineListener listener = EngineListener.NONE;
    private long generatedTokens;

    /** {@code eos} tells the model's end-of-text tokens; {@code maxModelLen} ends a sequence that long. */
    Delivery(Scheduler scheduler, IntPredicate eos, int maxModelLen) {
        this.scheduler = scheduler;
        this.eos = eos;
        this.maxModelLen = maxModelLen;
    }

    EngineListener listener() {
        return listener;
    }

    void setListener(EngineListener listener) {
        this.listener = listener;
    }

    long generatedTokens() {
        return generatedTokens;
    }

    /**
     * Samples {@code s}'s next token, appends it and hands it over; ends {@code s} when it stops or reaches its length.
     * If sampling or handing over throws, that request fails and the others of the pass go on.
     */
    void token(Sequence s, Supplier<Sampler.Sample> sample) {
        try {
            emit(s, sample.get());
        } catch (RuntimeException | Error e) {
            LOG.log(Level.SEVERE, "sampling or delivering a token of " + s.request.id() + " failed", e);
            if (scheduler.running().contains(s)) {  // not failed twice when the failing call had ended it
                try {
                    fail(s, e);
                } catch (RuntimeException again) {
                    LOG.log(Level.WARNING, "the failed request's sink failed too", again);
                }
            }
        }
    }

    private void emit(Sequence s, Sampler.Sample sample) {
        Request r = s.request;
        if (s.generated() == 0 && s.promptScores != null) {
            r.sink().onPromptLogprobs(List.copyOf(s.promptScores));
        }
        if (s.matcher != null) {
            s.matcher.advance(sample.token());
        }
        s.append(sample.token());
        generatedTokens++;
        if (s.firstTokenNanos == 0) {
            s.firstTokenNanos = System.nanoTime();
            listener.firstToken(name(r), s.firstTokenNanos - s.arrivalNanos);
        }
        boolean wantsMore = r.sink().onToken(sample);
        boolean ended = (!r.ignoreEos() || s.matcher != null) && eos.test(sample.token());
        FinishReason reason = !wantsMore || ended || r.stopTokenIds().contains(sample.token()) ? FinishReason.STOP
                : s.generated() >= r.maxTokens() || s.length() >= maxModelLen ? FinishReason.LENGTH : null;
        if (reason != null) {
            scheduler.remove(s);
            finish(s, reason);
        }
    }

    /** Ends {@code s}, which the scheduler no longer holds, for {@code reason}. */
    void finish(Sequence s, FinishReason reason) {
        release(s);
        s.request.sink().onFinish(reason, s.promptLength, s.generated(), Math.max(0, s.cachedTokens));
        listener.requestFinished(name(s.request), reason, s.promptLength, s.generated(),
                System.nanoTime() - s.arrivalNanos, s.firstTokenNanos == 0 ? -1 : s.firstTokenNanos - s.arrivalNanos);
    }

    /** Ends {@code s} with the engine's failure {@code e}: blocks and adapter reference freed, the client told. */
    void fail(Sequence s, Throwable e) {
        scheduler.remove(s);
        failRemoved(s, e);
    }

    /** {@link #fail} of a sequence the scheduler no longer holds. */
    void failRemoved(Sequence s, Throwable e) {
        failWith(s, "the engine failed to run this request: " + e.getMessage());
    }

    /** Fails every request the scheduler holds with {@code message}, each once, whatever its sink does. */
    void failAll(String message) {
        scheduler.removeIf(s -> true, s -> {
            try {
                failWith(s, message);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "the failed request's sink failed too", e);
            }
        });
    }

    /** Tells the listener, frees {@code s}'s adapter reference and gives its client {@code message}. */
    private void failWith(Sequence s, String message) {
        listener.requestFailed(name(s.request));
        release(s);
        s.request.sink().onError(message, false);
    }

    private static void release(Sequence s) {
        if (s.request.adapter() != null) {
            s.request.adapter().release();
        }
    }

    /** The adapter's name of {@code r}, or null for the base model: how the listener keys requests. */
    static String name(Request r) {
        return r.adapter() == null ? null : r.adapter().name();
    }
}
