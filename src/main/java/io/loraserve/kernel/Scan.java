package io.loraserve.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Searches of a float row a vector at a time: the sampler's top-k selection passes over the whole
 * vocabulary (49k-128k logits) per draw, nearly always past values below a threshold. Loading this
 * class needs the Vector API module: callers check {@link io.loraserve.model.Kernels#vectorApi}.
 */
public final class Scan {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private Scan() {
    }

    /** The largest of {@code x[from .. to)} (NaN ignored; -∞ when there is none). */
    public static float max(float[] x, int from, int to) {
        FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = from;
        for (; i + L <= to; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            m = m.blend(v, v.compare(VectorOperators.GT, m));
        }
        float best = m.reduceLanes(VectorOperators.MAX);
        for (; i < to; i++) {
            if (x[i] > best) {
                best = x[i];
            }
        }
        return best;
    }

    /** The first {@code i} in {@code [from, to)} with {@code x[i] >= t}, or {@code to}. */
    public static int nextAtLeast(float[] x, int from, int to, float t) {
        FloatVector tv = FloatVector.broadcast(S, t);
        int i = from;
        for (; i + L <= to; i += L) {
            VectorMask<Float> m = FloatVector.fromArray(S, x, i).compare(VectorOperators.GE, tv);
            if (m.anyTrue()) {
                return i + m.firstTrue();
            }
        }
        while (i < to && !(x[i] >= t)) {
            i++;
        }
        return i;
    }
}
