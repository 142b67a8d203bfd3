package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterPlacement;
import io.loraserve.lora.LoraBypass;
import io.loraserve.model.Bypass;
import io.loraserve.model.ForwardBatch;
import io.loraserve.model.Scoring;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Device;

/**
 * Turns one step's work into forward passes: one for the base model and every unpinned adapter,
 * its sequences ordered by adapter slot so each adapter's tokens form one segment of the bypass,
 * and one per pinned adapter (run on its merged weights, no bypass). Builds each pass's batch and
 * bypass. Engine thread only; allocates only step temporaries.
 */
final class Passes {
    private Passes() {
    }

    /** Splits {@code plan}, whose adapters {@code placement} has activated (merged copies and slots). */
    static List<List<Scheduler.Work>> of(List<Scheduler.Work> plan, AdapterPlacement placement) {
        Map<Adapter, List<Scheduler.Work>> merged = new LinkedHashMap<>();
        List<Scheduler.Work> shared = new ArrayList<>();
        for (Scheduler.Work w : plan) {
            Adapter a = w.seq().request.adapter();
            if (placement.merged(a) != null) {
                merged.computeIfAbsent(a, k -> new ArrayList<>()).add(w);
            } else {
                shared.add(w);
            }
        }
        shared.sort(Comparator.comparingInt((Scheduler.Work w) -> slotOf(w, placement)));
        List<List<Scheduler.Work>> passes = new ArrayList<>();
        if (!shared.isEmpty()) {
            passes.add(shared);
        }
        passes.addAll(merged.values());
        return passes;
    }

    /** The tokens each sequence computes in this pass, and what its attention sees. */
    static ForwardBatch batch(List<Scheduler.Work> pass) {
        int total = pass.stream().mapToInt(Scheduler.Work::tokens).sum();
        long[] tokens = new long[total];
        long[] positions = new long[total];
        List<ForwardBatch.Span> spans = new ArrayList<>(pass.size());
        int t = 0;
        for (Scheduler.Work w : pass) {
            Sequence s = w.seq();
            int start = t;
            for (int i = 0; i < w.tokens(); i++) {
                tokens[t] = s.token(s.computed + i);
                positions[t++] = s.computed + i;
            }
            int context = s.computed + w.tokens();
            spans.add(new ForwardBatch.Span(start, w.tokens(), s.blockTable(), context, context == s.length()));
        }
        return new ForwardBatch(tokens, positions, spans);
    }

    /** The prompt positions the pass scores for sequences that asked for prompt logprobs, in pass order. */
    static Scoring scoring(List<Scheduler.Work> pass) {
        int n = 0;
        int top = 0;
        for (Scheduler.Work w : pass) {
            Sequence s = w.seq();
            n += Math.max(0, s.scoreTo(w.tokens()) - s.scoreFrom());
            top = Math.max(top, s.request.promptLogprobs());
        }
        if (n == 0) {
            return Scoring.NONE;
        }
        long[] rows = new long[n];
        long[] targets = new long[n];
        int i = 0;
        int start = 0;
        for (Scheduler.Work w : pass) {
            Sequence s = w.seq();
            for (int p = s.scoreFrom(); p < s.scoreTo(w.tokens()); p++) {
                rows[i] = start + (p - s.computed);
                targets[i++] = s.token(p + 1);
            }
            start += w.tokens();
        }
        return new Scoring(rows, targets, top);
    }

    /**
     * The bypass of a slot-ordered pass: one segment per run of tokens on one slot; base tokens (slot -1)
     * none. {@code gpuPolicy}: see {@link LoraBypass#of}.
     */
    static Bypass bypass(List<Scheduler.Work> pass, AdapterPlacement placement, Device device, boolean gpuPolicy) {
        List<LoraBypass.Segment> segments = new ArrayList<>();
        int start = 0;
        for (Scheduler.Work w : pass) {
            int slot = slotOf(w, placement);
            if (slot < 0 && w.seq().request.adapter() != null) {
                // Never run an adapter's tokens on the bare base: the pass fails instead.
                throw new IllegalStateException("adapter '" + w.seq().request.adapter().name() + "' was not activated");
            }
            int last = segments.size() - 1;
            if (slot >= 0 && last >= 0 && segments.get(last).slot() == slot
                    && segments.get(last).start() + segments.get(last).rows() == start) {
                LoraBypass.Segment prev = segments.get(last);
                segments.set(last, new LoraBypass.Segment(slot, prev.start(), prev.rows() + w.tokens()));
            } else if (slot >= 0) {
                segments.add(new LoraBypass.Segment(slot, start, w.tokens()));
            }
            start += w.tokens();
        }
        return segments.isEmpty() ? Bypass.NONE : LoraBypass.of(placement.slots(), segments, device, gpuPolicy);
    }

    /** The device slot of {@code w}'s adapter; -1 for the base model. */
    private static int slotOf(Scheduler.Work w, AdapterPlacement placement) {
        Adapter a = w.seq().request.adapter();
        return a == null ? -1 : placement.slotOf(a);
    }
}
