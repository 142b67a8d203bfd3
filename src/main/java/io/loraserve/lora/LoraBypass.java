package io.loraserve.lora;

import io.loraserve.model.Bypass;
import io.loraserve.model.Proj;
import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * The unmerged LoRA bypass for one forward pass: {@code out[seg] += (x[seg]·Aᵀ)·(scale·Bᵀ)} for
 * each segment of consecutive tokens that share an adapter slot, reading the slots' stacked
 * buffers (views, no copies). Tokens outside every segment (the base model) skip it.
 * Step lifetime: allocates only inside the caller's step scope.
 */
public final class LoraBypass implements Bypass {
    /** Tokens {@code [start, start+rows)} of the batch run on {@code slot}. */
    public record Segment(int slot, int start, int rows) {
    }

    private final AdapterSlots slots;
    private final List<Segment> segments;

    public LoraBypass(AdapterSlots slots, List<Segment> segments) {
        this.slots = slots;
        this.segments = segments;
    }

    @Override
    public void apply(int layer, Proj proj, Tensor x, Tensor out) {
        for (Segment s : segments) {
            int r = slots.rank(s.slot(), layer, proj);
            if (r == 0) {
                continue;
            }
            Tensor a = slots.a(layer, proj).select(0, s.slot()).narrow(0, 0, r);    // [r, in]
            Tensor bt = slots.bt(layer, proj).select(0, s.slot()).narrow(0, 0, r);  // [r, out]
            Tensor xa = x.narrow(0, s.start(), s.rows()).mm(a.t());                   // [rows, r]
            out.narrow(0, s.start(), s.rows()).addmm_(xa, bt);                        // [rows, out]
        }
    }
}
