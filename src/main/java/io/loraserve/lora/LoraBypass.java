package io.loraserve.lora;

import io.loraserve.model.Bypass;
import io.loraserve.model.Fused;
import io.loraserve.tensor.Tensors;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;

/**
 * The unmerged LoRA bypass of one forward pass: for each segment of consecutive tokens that share
 * an adapter slot, {@code out[seg] += x[seg]·A[slot]ᵀ·Bt[slot]} (see {@link AdapterSlots} for the
 * layout; scale is folded into Bt). Tokens outside every segment (the base model) get nothing.
 *
 * <p>Two ways to compute the same sum, chosen once per pass: with one or two segments, a GEMM
 * pair per segment; with more, the segments' tokens are gathered into a zero-padded
 * {@code [slots, maxRows, in]} block over the contiguous range of slots they use, and two
 * {@code bmm} calls do every adapter at once (SGMV-style), so the number of native calls does not
 * grow with the number of adapters. Step lifetime: the index tensors are built once per pass
 * and reused by every layer.
 */
public final class LoraBypass implements Bypass {
    /** Tokens {@code [start, start+rows)} of the batch run on {@code slot}. */
    public record Segment(int slot, int start, int rows) {
    }

    /** Segments from this many on run as one batched bmm. */
    static final int BATCHED_FROM = 3;

    private final AdapterSlots slots;
    private final List<Segment> segments;
    private final boolean batched;
    private final int firstSlot;
    private final int slotRange;
    private final int maxRows;
    private final Tensor gatherRows;  // [slotRange*maxRows] token row of each padded position
    private final Tensor validRows;   // [adapter tokens] padded position of each adapter token
    private final Tensor tokenRows;   // [adapter tokens] its batch row

    /** {@code segments} must be sorted by slot, each slot at most once. */
    public LoraBypass(AdapterSlots slots, List<Segment> segments, Device device) {
        this.slots = slots;
        this.segments = segments;
        this.firstSlot = segments.get(0).slot();
        this.slotRange = segments.get(segments.size() - 1).slot() - firstSlot + 1;
        this.maxRows = segments.stream().mapToInt(Segment::rows).max().orElseThrow();
        this.batched = segments.size() >= BATCHED_FROM;
        if (!batched) {
            gatherRows = validRows = tokenRows = null;
            return;
        }
        long[] gather = new long[slotRange * maxRows];
        java.util.Arrays.fill(gather, segments.get(0).start());  // padding repeats a real row; its result is dropped
        int tokens = segments.stream().mapToInt(Segment::rows).sum();
        long[] valid = new long[tokens];
        long[] rows = new long[tokens];
        int v = 0;
        for (Segment s : segments) {
            int base = (s.slot() - firstSlot) * maxRows;
            for (int i = 0; i < s.rows(); i++) {
                gather[base + i] = s.start() + i;
                valid[v] = base + i;
                rows[v++] = s.start() + i;
            }
        }
        gatherRows = Tensors.newLongs(gather, device, gather.length);
        validRows = Tensors.newLongs(valid, device, tokens);
        tokenRows = Tensors.newLongs(rows, device, tokens);
    }

    @Override
    public void apply(int layer, Fused group, Tensor x, Tensor out) {
        if (batched) {
            applyBatched(layer, group, x, out);
            return;
        }
        for (Segment s : segments) {
            if (!slots.active(s.slot(), layer, group)) {
                continue;
            }
            Tensor a = slots.a(layer, group).select(0, s.slot());                    // [projs*R, in]
            Tensor xa = x.narrow(0, s.start(), s.rows()).mm(a.t());                  // [rows, projs*R]
            out.narrow(0, s.start(), s.rows()).addmm_(xa, slots.bt(layer, group).select(0, s.slot()));
        }
    }

    private void applyBatched(int layer, Fused group, Tensor x, Tensor out) {
        long in = x.size(1);
        long groupOut = out.size(1);
        Tensor xp = x.index_select(0, gatherRows).view(slotRange, maxRows, in);           // [S, maxRows, in]
        Tensor a = slots.a(layer, group).narrow(0, firstSlot, slotRange);                  // [S, projs*R, in]
        Tensor bt = slots.bt(layer, group).narrow(0, firstSlot, slotRange);                // [S, projs*R, out]
        Tensor y = xp.bmm(a.transpose(1, 2)).bmm(bt);                                      // [S, maxRows, out]
        out.index_add_(0, tokenRows, y.view(slotRange * maxRows, groupOut).index_select(0, validRows));
    }
}
