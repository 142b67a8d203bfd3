package io.loraserve.model;

import io.loraserve.tensor.Tensors;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

/**
 * Sequences whose attention runs as one padded {@code scaled_dot_product_attention} call, with
 * the index tensors that move their queries and cached keys into the padded layout and back.
 * All decoding sequences (one query each) form one group; each prefill chunk forms its own, so
 * a long prompt never pads every decode to its length. Step lifetime.
 *
 * @param queryRows    [seqs*maxQuery] token row of each padded query (pads repeat a real row)
 * @param contextSlots [seqs*maxContext] KV slot of each padded key position (pads read slot 0)
 * @param mask         [seqs, 1, maxQuery, maxContext] true where a query may attend a key: causal, and
 *                     within the last {@code slidingWindow} positions when the model has a window
 * @param validRows    [tokens of group] padded row of each real query, in token order
 * @param tokenRows    [tokens of group] the batch token index of each real query
 */
record AttentionGroup(int seqs, int maxQuery, int maxContext, Tensor queryRows, Tensor contextSlots,
                      Tensor mask, Tensor validRows, Tensor tokenRows) {

    /** @param slidingWindow how many positions a query attends at most, itself included; 0 = all before it */
    static List<AttentionGroup> plan(ForwardBatch batch, int blockSize, int slidingWindow, Device device) {
        List<ForwardBatch.Span> decodes = new ArrayList<>();
        List<List<ForwardBatch.Span>> members = new ArrayList<>();
        for (ForwardBatch.Span s : batch.seqs()) {
            if (s.count() == 1) {
                decodes.add(s);
            } else {
                members.add(List.of(s));
            }
        }
        if (!decodes.isEmpty()) {
            members.add(0, decodes);
        }
        List<AttentionGroup> groups = new ArrayList<>();
        for (List<ForwardBatch.Span> m : members) {
            groups.add(build(batch, m, blockSize, slidingWindow, device));
        }
        return groups;
    }

    private static AttentionGroup build(ForwardBatch batch, List<ForwardBatch.Span> spans, int blockSize,
                                        int slidingWindow, Device device) {
        int n = spans.size();
        int maxQ = spans.stream().mapToInt(ForwardBatch.Span::count).max().orElseThrow();
        int maxC = spans.stream().mapToInt(ForwardBatch.Span::contextLen).max().orElseThrow();
        int tokens = spans.stream().mapToInt(ForwardBatch.Span::count).sum();
        long[] queryRows = new long[n * maxQ];
        long[] contextSlots = new long[n * maxC];
        boolean[] mask = new boolean[n * maxQ * maxC];
        long[] validRows = new long[tokens];
        long[] tokenRows = new long[tokens];
        int v = 0;
        for (int i = 0; i < n; i++) {
            ForwardBatch.Span s = spans.get(i);
            for (int p = 0; p < s.contextLen(); p++) {
                contextSlots[i * maxC + p] = PagedKvCache.slot(s.blockTable(), blockSize, p);
            }
            for (int j = 0; j < maxQ; j++) {
                int base = (i * maxQ + j) * maxC;
                if (j < s.count()) {
                    int row = s.start() + j;
                    queryRows[i * maxQ + j] = row;
                    int position = (int) batch.positions()[row];
                    int first = slidingWindow == 0 ? 0 : Math.max(0, position - slidingWindow + 1);
                    for (int key = first; key <= position; key++) {
                        mask[base + key] = true;
                    }
                    validRows[v] = (long) i * maxQ + j;
                    tokenRows[v++] = row;
                } else {
                    queryRows[i * maxQ + j] = s.start();
                    mask[base] = true;  // a pad row attends one key so softmax stays finite
                }
            }
        }
        return new AttentionGroup(n, maxQ, maxC,
                Tensors.newLongs(queryRows, device, queryRows.length),
                Tensors.newLongs(contextSlots, device, contextSlots.length),
                Tensors.newBools(mask, device, n, 1, maxQ, maxC),
                Tensors.newLongs(validRows, device, tokens),
                Tensors.newLongs(tokenRows, device, tokens));
    }
}
