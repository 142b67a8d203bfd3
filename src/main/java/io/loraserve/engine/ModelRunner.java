package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterPlacement;
import io.loraserve.lora.MergedWeights;
import io.loraserve.model.Bypass;
import io.loraserve.model.DeviceSampler;
import io.loraserve.model.ForwardBatch;
import io.loraserve.model.LayerWeights;
import io.loraserve.model.LlamaModel;
import io.loraserve.model.LlamaWeights;
import io.loraserve.model.PagedKvCache;
import io.loraserve.model.Sampler;
import io.loraserve.model.Scoring;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;

/**
 * The model runner: puts a step's adapters where the forward reads them (through the {@link AdapterPlacement}),
 * splits the step into {@link Passes}, runs each pass's forward and samples it. It keeps no request state: the
 * {@link Engine} hands it the plan and delivers what comes back. Engine thread only; a forward's temporaries live in a
 * {@link PointerScope} closed before {@link #forward} returns.
 */
final class ModelRunner {
    private final LlamaModel model;
    private final LlamaWeights weights;
    private final PagedKvCache cache;
    private final AdapterPlacement placement;

    ModelRunner(LlamaModel model, LlamaWeights weights, PagedKvCache cache, AdapterPlacement placement) {
        this.model = model;
        this.weights = weights;
        this.cache = cache;
        this.placement = placement;
    }

    /** What one pass computed: host logits and prompt scores, or under the GPU policy the rows sampled on the device. */
    record Result(LlamaModel.Output out, Sampler.Sample[] onDevice, int vocab) {
        /** The token for {@code s}, the {@code row}-th sequence of the pass that samples. */
        Sampler.Sample sample(Sequence s, int row) {
            if (onDevice != null) {
                return onDevice[row];
            }
            Request r = s.request;
            return Sampler.sample(out.logits(), row * vocab, vocab, r.sampling(), s.rng, r.promptIds(),
                    s.penaltyTokens(), s.allowedTokens());
        }

        Scoring.Result scores() {
            return out.scores();
        }
    }

    /**
     * Before the forward: a device slot for the adapter of each sequence the scheduler counted since the last step
     * ({@code placed}, keeping the {@code slotted} adapters' slots), and a merged copy for a pinned adapter of the
     * plan that has none yet. Returns the adapters that could not be placed, with why.
     */
    Map<Adapter, Throwable> activate(List<Sequence> placed, Set<Adapter> slotted, List<Scheduler.Work> plan) {
        Map<Adapter, Throwable> failed = new IdentityHashMap<>();
        for (Sequence s : placed) {
            Adapter a = s.request.adapter();
            try {
                placement.acquireSlot(a, slotted);
            } catch (RuntimeException | OutOfMemoryError e) {
                failed.put(a, e);
            }
        }
        for (Scheduler.Work w : plan) {
            Adapter a = w.seq().request.adapter();
            if (a != null && !failed.containsKey(a)) {
                try {
                    placement.activate(a);
                } catch (RuntimeException | OutOfMemoryError e) {
                    failed.put(a, e);
                }
            }
        }
        return failed;
    }

    /** The forward passes of an activated plan ({@link Passes#of}). */
    List<List<Scheduler.Work>> passes(List<Scheduler.Work> plan) {
        return Passes.of(plan, placement);
    }

    /**
     * Runs one pass's forward; throws what the forward throws. Under the GPU policy the pass's rows are sampled on
     * the device inside the pass's scope ({@link DeviceSampler}), so a sampling failure there fails the whole pass.
     */
    @SuppressWarnings("try")  // the PointerScope owns the temporaries; the body need not name it
    Result forward(List<Scheduler.Work> pass) {
        ForwardBatch batch = Passes.batch(pass);
        Scoring scoring = Passes.scoring(pass);
        MergedWeights m = placement.merged(pass.get(0).seq().request.adapter());
        List<LayerWeights> layers = m != null ? m.layers() : weights.layers();
        try (PointerScope scope = new PointerScope()) {
            Bypass bypass = m != null ? Bypass.NONE : Passes.bypass(pass, placement, model.device(), model.gpuPolicy());
            LlamaModel.Output out = model.forward(batch, weights, layers, bypass, cache, scoring);
            Sampler.Sample[] onDevice = out.deviceLogits() == null ? null
                    : DeviceSampler.sample(out.deviceLogits(), deviceRows(pass));
            return new Result(out, onDevice, model.config().vocab());
        }
    }

    /** The sampling rows of a pass for {@link DeviceSampler}, in logits row order; each takes a seed from its request's stream. */
    private static List<DeviceSampler.Row> deviceRows(List<Scheduler.Work> pass) {
        List<DeviceSampler.Row> rows = new ArrayList<>();
        for (Scheduler.Work w : pass) {
            Sequence s = w.seq();
            if (s.computed + w.tokens() == s.length()) {
                Request r = s.request;
                rows.add(new DeviceSampler.Row(r.sampling(), s.rng.nextLong(), r.promptIds(), s.penaltyTokens(),
                        s.allowedTokens()));
            }
        }
        return rows;
    }

    /** Whether {@code token} ends a sequence as the model's end of text. */
    boolean isEos(int token) {
        return model.config().eosTokenIds().contains(token);
    }

    /** Builds {@code adapter}'s merged copy now (an admin pin). */
    void pin(Adapter adapter) {
        placement.pin(adapter);
    }

    /** Frees {@code adapter}'s merged copy; its requests go back to the bypass. */
    void unpin(Adapter adapter) {
        placement.unpin(adapter);
    }

    /** After a step: frees the device slots of adapters no longer counted ({@code slotted} keep theirs). */
    void releaseUnused(Set<Adapter> slotted) {
        placement.releaseUnused(slotted);
    }
}
