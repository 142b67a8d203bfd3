package io.loraserve.lora;

import io.loraserve.kernel.MatMul;
import io.loraserve.kernel.Parallel;
import io.loraserve.model.Bypass;
import io.loraserve.model.Fused;
import io.loraserve.model.LayerWeights;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import io.loraserve.tensor.Tensors;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The unmerged LoRA bypass of one forward pass: for each segment of consecutive tokens that share
 * an adapter slot, {@code out[seg] += x[seg]·A[slot]ᵀ·Bt[slot]} (see {@link AdapterSlots} for the
 * layout; scale is folded into Bt). Tokens outside every segment (the base model) get nothing.
 *
 * <p>Two ways to compute the same sum, chosen once per pass: below {@link #BATCHED_FROM} segments,
 * a GEMM pair per segment; from there on, each slot's tokens are gathered into a padded
 * {@code [slots, maxRows, in]} block over the contiguous range of slots they use, and two
 * {@code bmm} calls do every adapter at once (SGMV-style), so the number of native calls does not
 * grow with the number of adapters. Pass lifetime: the batched path's index tensors are built by
 * its first call in a pass (inside a layer's scope, then moved to the scope the bypass was made
 * in) and reused by every layer; the Java kernels' path never builds them.
 */
public final class LoraBypass implements Bypass {
    /** Tokens {@code [start, start+rows)} of the batch run on {@code slot}. */
    public record Segment(int slot, int start, int rows) {
    }

    /**
     * Segments from this many on run as one batched bmm. Measured on 2 CPU cores, SmolLM-135M shape,
     * r16 all-linear, 32 decoding sequences: 8 segments of 4 tokens, per-segment 204.9 tok/s vs
     * batched 192.8; 32 segments of 1 token, 110.4 vs 111.9 (a tie). On CPU, small bmm calls cost as
     * much as the per-segment GEMMs they replace. On a GPU each call is a kernel launch (5–8 µs):
     * a 7B-shaped step of 32 sequences over 8 adapters issued ~2,050 launches per-segment, 16–26 ms
     * against ~3.4 ms of weight reads, so under the GPU policy (the default on CUDA) the batched path
     * runs whatever the number of segments, while its padding stays small ({@link #compact}), and the
     * ops per layer do not grow with the adapters (counted on a CPU with {@code --gpu-policy on}: see
     * the README's GPU section; launch times not measured, no GPU here).
     */
    static final int BATCHED_FROM = 32;

    /** Tokens of one segment the CPU bypass computes as one unit of work. */
    private static final int PIECE_ROWS = 4;

    private final AdapterSlots slots;
    private final List<Segment> segments;
    private final List<Segment> pieces;  // the segments cut into at most PIECE_ROWS tokens
    private final boolean batched;
    private final int firstSlot;
    private final int slotRange;
    private final int maxRows;
    private final Device device;
    private final long[] gather;  // [slotRange*maxRows] token row of each padded position
    private final long[] valid;   // [adapter tokens] padded position of each adapter token
    private final long[] rows;    // [adapter tokens] its batch row
    private final PointerScope pass;  // the scope the bypass was made in (the pass's), or null
    private Tensor gatherRows;    // the three above on the device, made by the first libtorch call
    private Tensor validRows;
    private Tensor tokenRows;

    /**
     * {@code segments} in any order; one slot may have several. Make it inside the pass's
     * {@code PointerScope} (as the engine does): libtorch's batched path keeps tensors there.
     *
     * @param gpuPolicy batch whenever the padding stays small, however few the segments (else from
     *                  {@link #BATCHED_FROM} segments)
     */
    public static LoraBypass of(AdapterSlots slots, List<Segment> segments, Device device, boolean gpuPolicy) {
        return new LoraBypass(slots, segments, device, gpuPolicy ? compact(segments) : segments.size() >= BATCHED_FROM);
    }

    /**
     * Whether the batched path's padded block ({@code slots in range × the largest slot's tokens})
     * holds at most twice the adapter tokens: a long prefill beside single-token decodes would pad
     * every slot to the prefill's length (hundreds of MB of transients a call on a 7B shape).
     */
    private static boolean compact(List<Segment> segments) {
        TreeMap<Integer, Integer> rowsBySlot = new TreeMap<>();
        int tokens = 0;
        for (Segment s : segments) {
            rowsBySlot.merge(s.slot(), s.rows(), Integer::sum);
            tokens += s.rows();
        }
        long range = rowsBySlot.lastKey() - rowsBySlot.firstKey() + 1;
        long maxRows = rowsBySlot.values().stream().mapToInt(Integer::intValue).max().orElse(0);
        return range * maxRows <= 2L * tokens;
    }

    /** Fixes the computation instead of choosing it by the number of segments (tests compare both). */
    LoraBypass(AdapterSlots slots, List<Segment> segments, Device device, boolean batched) {
        this.slots = slots;
        this.segments = segments;
        this.pieces = new ArrayList<>();
        for (Segment s : segments) {
            for (int r = 0; r < s.rows(); r += PIECE_ROWS) {
                pieces.add(new Segment(s.slot(), s.start() + r, Math.min(PIECE_ROWS, s.rows() - r)));
            }
        }
        this.batched = batched;
        this.device = device;
        this.pass = PointerScope.getInnerScope();
        TreeMap<Integer, List<Integer>> rowsBySlot = new TreeMap<>();
        for (Segment s : segments) {
            List<Integer> rows = rowsBySlot.computeIfAbsent(s.slot(), k -> new ArrayList<>());
            for (int i = 0; i < s.rows(); i++) {
                rows.add(s.start() + i);
            }
        }
        this.firstSlot = rowsBySlot.firstKey();
        this.slotRange = rowsBySlot.lastKey() - firstSlot + 1;
        this.maxRows = rowsBySlot.values().stream().mapToInt(List::size).max().orElseThrow();
        if (!batched) {
            gather = valid = rows = null;
            return;
        }
        gather = new long[slotRange * maxRows];
        Arrays.fill(gather, segments.get(0).start());  // padding repeats a real row; its result is dropped
        int tokens = segments.stream().mapToInt(Segment::rows).sum();
        valid = new long[tokens];
        rows = new long[tokens];
        int v = 0;
        for (var e : rowsBySlot.entrySet()) {
            int base = (e.getKey() - firstSlot) * maxRows;
            for (int i = 0; i < e.getValue().size(); i++) {
                gather[base + i] = e.getValue().get(i);
                valid[v] = base + i;
                rows[v++] = e.getValue().get(i);
            }
        }
    }

    /** Whether the libtorch path gathers every adapter into two bmm calls (else a GEMM pair per segment). */
    boolean batched() {
        return batched;
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
            Tensor xs = x.narrow(0, s.start(), s.rows());      // [rows, in]
            Tensor into = out.narrow(0, s.start(), s.rows());  // [rows, groupOut]
            if (x.scalar_type().intern() == ScalarType.Float) {
                into.addmm_(xs.mm(slots.aT(s.slot(), layer, group)), slots.bt(s.slot(), layer, group));
            } else {
                Tensor xa = float32(xs).mm(float32(slots.aT(s.slot(), layer, group)));  // [rows, projs*R]
                into.add_(xa.mm(float32(slots.bt(s.slot(), layer, group))));
            }
        }
    }

    /** Moves {@code t} from the scope it was made in (a layer's) to the pass's. */
    private Tensor passLifetime(Tensor t) {
        if (pass == null) {
            t.close();
            throw new IllegalStateException("a LoraBypass run by libtorch must be made inside its pass's PointerScope");
        }
        PointerScope made = PointerScope.getInnerScope();
        if (made != pass) {
            pass.attach(t);
            made.detach(t);
        }
        return t;
    }

    /**
     * {@code t} in float32. A 16-bit model's bypass keeps the rank-r intermediate {@code x·Aᵀ} and the
     * product with {@code Bt} in float32 (as vLLM's shrink/expand kernels do), rounding once, into
     * {@code out}: rounding {@code x·Aᵀ} to 8 mantissa bits would lose what {@code Bt} multiplies up.
     */
    private static Tensor float32(Tensor t) {
        return t.to(ScalarType.Float);
    }

    /**
     * The CPU kernels' bypass: per piece of a segment (at most {@link #PIECE_ROWS} tokens, the
     * pieces spread over the pool), {@code xa = x[piece]·A[slot]ᵀ} over the slot's stacked ranks,
     * then each projection's rank block times its own columns of {@code Bt} only, so the zeros of
     * the block-diagonal layout are never read. Pieces write disjoint rows of {@code out}.
     */
    @Override
    public void apply(int layer, Fused group, float[] x, float[] out, Parallel pool) {
        ModelConfig c = slots.config();
        int in = group.in(c);
        int groupOut = group.out(c);
        int rank = slots.maxRank();
        int width = group.projs().size() * rank;
        long firstColumn = LayerWeights.rowOffset(c, group.projs().get(0));
        MemorySegment a = slots.aMemory(layer, group);    // [slots, width, in]
        MemorySegment bt = slots.btMemory(layer, group);  // [slots, width, groupOut]
        List<Segment> active = new ArrayList<>();
        for (Segment s : pieces) {
            if (slots.active(s.slot(), layer, group)) {
                active.add(s);
            }
        }
        pool.run(active.size(), i -> {
            Segment s = active.get(i);
            float[] xs = Arrays.copyOfRange(x, s.start() * in, (s.start() + s.rows()) * in);  // [rows, in]
            float[] xa = new float[s.rows() * width];                                          // [rows, width]
            MatMul.linearRows(xs, s.rows(), in, slice(a, s.slot(), (long) width * in), width, xa, 0, width);
            MemorySegment b = slice(bt, s.slot(), (long) width * groupOut);
            for (int j = 0; j < group.projs().size(); j++) {
                Proj p = group.projs().get(j);
                int column = (int) (LayerWeights.rowOffset(c, p) - firstColumn);
                MatMul.addProduct(xa, s.rows(), width, j * rank, rank, b, groupOut, column, c.outFeatures(p),
                        out, s.start(), groupOut);
            }
        });
    }

    /** Slot {@code slot}'s matrix of {@code elements} float32 values in a stacked buffer. */
    private static MemorySegment slice(MemorySegment stacked, int slot, long elements) {
        return stacked.asSlice(slot * elements * Float.BYTES, elements * Float.BYTES);
    }

    private void applyBatched(int layer, Fused group, Tensor x, Tensor out) {
        if (gatherRows == null) {  // the first layer's call makes them; they live as long as the pass
            gatherRows = passLifetime(Tensors.newLongs(gather, device, gather.length));
            validRows = passLifetime(Tensors.newLongs(valid, device, valid.length));
            tokenRows = passLifetime(Tensors.newLongs(rows, device, rows.length));
        }
        long in = x.size(1);
        long groupOut = out.size(1);
        Tensor xp = x.index_select(0, gatherRows).view(slotRange, maxRows, in);           // [S, maxRows, in]
        Tensor a = slots.a(layer, group).narrow(0, firstSlot, slotRange);                  // [S, projs*R, in]
        Tensor bt = slots.bt(layer, group).narrow(0, firstSlot, slotRange);                // [S, projs*R, out]
        if (x.scalar_type().intern() == ScalarType.Float) {
            Tensor y = xp.bmm(a.transpose(1, 2)).bmm(bt);                                   // [S, maxRows, out]
            out.index_add_(0, tokenRows, y.view(slotRange * maxRows, groupOut).index_select(0, validRows));
            return;
        }
        Tensor y = float32(xp).bmm(float32(a).transpose(1, 2)).bmm(float32(bt));           // float32, see float32()
        Tensor sum = float32(out.index_select(0, tokenRows))
                .add_(y.view(slotRange * maxRows, groupOut).index_select(0, validRows));     // [adapter tokens, out]
        out.index_copy_(0, tokenRows, sum.to(out.scalar_type()));                           // rounded once
    }
}
