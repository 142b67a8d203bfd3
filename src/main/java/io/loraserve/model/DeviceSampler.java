package io.loraserve.model;

import io.loraserve.tensor.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Chooses the next token of every row of a {@code [rows, vocab]} logits tensor where the tensor
 * lives (the GPU policy's sampler): one host sync a step, for a {@code [rows, 2 + 2·top]} float32
 * result holding each row's token, its logprob and the requested top alternatives; the logits never
 * leave the device.
 *
 * <p>Semantics: those of {@link Sampler} (reported logprobs are the raw log-softmax; then logit
 * bias, penalties, temperature, top-k, top-p, min-p; greedy takes the first maximum), preceded by
 * an optional allowed-token mask per row (tokens outside it get -inf before anything else). A row
 * that is not greedy draws by an exponential race over the candidates in descending order of their
 * processed logit (ties: lower id first): the candidate with the largest {@code p / E} wins, with
 * {@code E = -ln u} and u a uniform made by hashing (SplitMix64) the row's {@code seed} with the
 * candidate's rank, so a row's draw depends on its seed and logits only, whatever else the batch
 * holds. The caller gives each row a fresh seed per step from the request's own random stream.
 * Processed logits are float32 as the host's; temperature, softmax and truncation run in float64.
 * Allocates only step temporaries: call it inside a {@code PointerScope}.
 */
public final class DeviceSampler {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private DeviceSampler() {
    }

    /**
     * One row to sample.
     *
     * @param seed      this step's random seed for the row (unused when greedy)
     * @param prompt    prompt tokens (repetition penalty looks at them)
     * @param generated tokens generated so far (penalties)
     * @param allowed   bitset of the tokens the row may take (bit {@code t % 64} of word {@code t / 64}),
     *                  or null for no constraint
     */
    public record Row(SamplingParams params, long seed, int[] prompt, int[] generated, long[] allowed) {
    }

    /** Samples row {@code i} of {@code logits} [rows.size(), vocab] for {@code rows.get(i)}. */
    public static Sampler.Sample[] sample(Tensor logits, List<Row> rows) {
        int n = rows.size();
        int vocab = (int) logits.size(1);
        Device device = logits.device();
        int top = rows.stream().mapToInt(r -> Math.min(r.params().logprobs(), vocab)).max().orElse(-1);
        Tensor raw = logits.to(ScalarType.Float);                            // [rows, vocab]
        Tensor x = processed(raw, rows, vocab, device);                      // [rows, vocab]
        Tensor token = x.argmax(new LongOptional(1), false);                // [rows] greedy choice
        if (rows.stream().anyMatch(r -> !r.params().greedy())) {
            token = torch.where(flags(rows, device), drawn(x, rows, vocab, device), token);
        }
        List<Tensor> columns = new ArrayList<>(List.of(token.to(ScalarType.Float).unsqueeze(1)));  // [rows, 1]
        if (top >= 0) {
            Tensor lp = raw.log_softmax(1);                                  // [rows, vocab]
            columns.add(lp.gather(1, token.unsqueeze(1)));                   // [rows, 1]
            if (top > 0) {
                T_TensorTensor_T best = lp.sort(new BoolOptional(true), 1, true);
                columns.add(best.get0().narrow(1, 0, top));                  // [rows, top] logprobs
                columns.add(best.get1().narrow(1, 0, top).to(ScalarType.Float));  // [rows, top] ids (exact below 2^24)
            }
        }
        int width = 1 + (top >= 0 ? 1 + 2 * top : 0);
        float[] out = Tensors.toFloats(torch.cat(new TensorVector(columns.toArray(Tensor[]::new)), 1));
        Sampler.Sample[] samples = new Sampler.Sample[n];
        for (int i = 0; i < n; i++) {
            int base = i * width;
            int id = (int) out[base];
            int k = Math.min(rows.get(i).params().logprobs(), vocab);
            if (k < 0) {
                samples[i] = new Sampler.Sample(id, Float.NaN, new Sampler.Candidate[0]);
                continue;
            }
            Sampler.Candidate[] alternatives = new Sampler.Candidate[k];
            for (int j = 0; j < k; j++) {
                alternatives[j] = new Sampler.Candidate((int) out[base + 2 + top + j], out[base + 2 + j]);
            }
            samples[i] = new Sampler.Sample(id, out[base + 1], alternatives);
        }
        return samples;
    }

    /** The logits after the allowed-token mask, the logit bias and the penalties: [rows, vocab] float32. */
    private static Tensor processed(Tensor raw, List<Row> rows, int vocab, Device device) {
        Tensor x = raw.clone();
        if (rows.stream().anyMatch(r -> r.allowed() != null)) {
            x.masked_fill_(banned(rows, vocab, device), new Scalar(Float.NEGATIVE_INFINITY));
        }
        Tensor flat = x.view(-1);                                            // [rows*vocab]
        Map<Long, Double> bias = new HashMap<>();
        for (int i = 0; i < rows.size(); i++) {
            long base = (long) i * vocab;
            rows.get(i).params().logitBias().forEach((t, b) -> bias.put(base + t, b));
        }
        if (!bias.isEmpty()) {
            addAt(flat, bias, device);
        }
        Map<Long, Double> repetition = new HashMap<>();  // flat index -> penalty
        Map<Long, Double> subtract = new HashMap<>();    // flat index -> frequency*count + presence
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            SamplingParams p = r.params();
            long base = (long) i * vocab;
            if (p.repetitionPenalty() != 1) {
                Set<Integer> seen = new LinkedHashSet<>();
                Arrays.stream(r.prompt()).forEach(seen::add);
                Arrays.stream(r.generated()).forEach(seen::add);
                seen.forEach(t -> repetition.put(base + t, p.repetitionPenalty()));
            }
            if (p.frequencyPenalty() != 0 || p.presencePenalty() != 0) {
                Map<Integer, Integer> counts = new HashMap<>();
                Arrays.stream(r.generated()).forEach(t -> counts.merge(t, 1, Integer::sum));
                counts.forEach((t, c) -> subtract.put(base + t,
                        (double) -(float) (p.frequencyPenalty() * c + p.presencePenalty())));
            }
        }
        if (!repetition.isEmpty()) {
            long[] at = repetition.keySet().stream().mapToLong(Long::longValue).toArray();
            double[] penalty = Arrays.stream(at).mapToDouble(repetition::get).toArray();
            Tensor index = Tensors.newLongs(at, device, at.length);
            Tensor rp = Tensors.newDoubles(penalty, device, at.length);
            Tensor v = flat.index_select(0, index).to(ScalarType.Double);    // [seen]
            Tensor penalized = torch.where(v.gt(new Scalar(0.0)), v.div(rp), v.mul(rp)).to(ScalarType.Float);
            flat.index_copy_(0, index, penalized);
        }
        if (!subtract.isEmpty()) {
            addAt(flat, subtract, device);
        }
        return x;
    }

    /** {@code flat[i] += (float) values[i]} for each index, in float32 as the host sampler adds. */
    private static void addAt(Tensor flat, Map<Long, Double> values, Device device) {
        long[] at = values.keySet().stream().mapToLong(Long::longValue).toArray();
        float[] add = new float[at.length];
        for (int i = 0; i < at.length; i++) {
            add[i] = values.get(at[i]).floatValue();
        }
        flat.index_add_(0, Tensors.newLongs(at, device, at.length), Tensors.newFloats(add, device, at.length));
    }

    /** True where a row's allowed-token bitset leaves a token out: [rows, vocab]. */
    private static Tensor banned(List<Row> rows, int vocab, Device device) {
        int words = (vocab + 63) / 64;
        long[] bits = new long[rows.size() * words];
        for (int i = 0; i < rows.size(); i++) {
            long[] allowed = rows.get(i).allowed();
            if (allowed == null) {
                Arrays.fill(bits, i * words, (i + 1) * words, -1L);
            } else {
                System.arraycopy(allowed, 0, bits, i * words, Math.min(words, allowed.length));
            }
        }
        long[] shifts = new long[64];
        Arrays.setAll(shifts, i -> i);
        Tensor w = Tensors.newLongs(bits, device, rows.size(), words, 1);   // [rows, words, 1]
        Tensor s = Tensors.newLongs(shifts, device, 1, 1, 64);               // [1, 1, 64]
        return torch.bitwise_right_shift(w, s).bitwise_and(new Scalar(1L)).eq(new Scalar(0L))
                .view(rows.size(), (long) words * 64).narrow(1, 0, vocab);   // [rows, vocab]
    }

    /** True for the rows that draw (not greedy): [rows]. */
    private static Tensor flags(List<Row> rows, Device device) {
        boolean[] drawn = new boolean[rows.size()];
        for (int i = 0; i < drawn.length; i++) {
            drawn[i] = !rows.get(i).params().greedy();
        }
        return Tensors.newBools(drawn, device, rows.size());
    }

    /**
     * Each row's draw from its tempered distribution truncated by top-k, top-p and min-p (greedy rows
     * draw at temperature 1, their result unused): [rows] token ids.
     */
    private static Tensor drawn(Tensor x, List<Row> rows, int vocab, Device device) {
        int n = rows.size();
        double[] settings = new double[n * 3];  // per row: 1/temperature, top-p bound, min-p
        long[] seeds = new long[n * 2];         // per row: seed, top-k
        for (int i = 0; i < n; i++) {
            SamplingParams p = rows.get(i).params();
            settings[3 * i] = p.greedy() ? 1 : 1 / p.temperature();
            settings[3 * i + 1] = p.topP() < 1 ? p.topP() : Double.POSITIVE_INFINITY;
            settings[3 * i + 2] = p.minP();
            seeds[2 * i] = rows.get(i).seed();
            seeds[2 * i + 1] = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        }
        Tensor set = Tensors.newDoubles(settings, device, n, 3);            // [rows, 3]
        Tensor ints = Tensors.newLongs(seeds, device, n, 2);                // [rows, 2]
        T_TensorTensor_T order = x.sort(new BoolOptional(true), 1, true);   // [rows, vocab] each, descending, stable
        Tensor rank = torch.arange(new Scalar(vocab), Tensors.options(ScalarType.Long, device)).unsqueeze(0);  // [1, vocab]
        Tensor scaled = order.get0().to(ScalarType.Double).mul(set.narrow(1, 0, 1));                         // [rows, vocab]
        Tensor outsideTopK = rank.ge(ints.narrow(1, 1, 1));                 // [rows, vocab]
        Tensor probs = scaled.masked_fill_(outsideTopK, new Scalar(Double.NEGATIVE_INFINITY)).softmax(1);
        Tensor before = probs.cumsum(1).sub(probs);                         // mass ranked above each candidate
        Tensor keep = before.lt(set.narrow(1, 1, 1))
                .logical_and(probs.ge(probs.narrow(1, 0, 1).mul(set.narrow(1, 2, 1))))
                .logical_and(outsideTopK.logical_not());                    // [rows, vocab]
        Tensor race = probs.masked_fill_(keep.logical_not(), new Scalar(0.0))
                .div(uniform(ints.narrow(1, 0, 1), rank).log().neg());       // p / E
        Tensor winner = race.argmax(new LongOptional(1), true);             // [rows, 1] rank
        return order.get1().gather(1, winner).squeeze(1);                   // [rows]
    }

    /**
     * Uniforms in (0, 1), one per (row, rank): SplitMix64 of {@code seed + (rank + 1)·golden}, its top
     * 53 bits, centred in their interval. int64 arithmetic wraps as Java's does; logical shifts are
     * an arithmetic shift masked. [rows, vocab] float64.
     */
    private static Tensor uniform(Tensor seeds, Tensor rank) {
        Tensor z = rank.add(new Scalar(1L)).mul(new Scalar(GOLDEN)).add(seeds);       // [rows, vocab]
        z = mix(z, 30).mul(new Scalar(0xBF58476D1CE4E5B9L));
        z = mix(z, 27).mul(new Scalar(0x94D049BB133111EBL));
        z = mix(z, 31);
        return shiftRight(z, 11).to(ScalarType.Double).add(new Scalar(0.5)).mul(new Scalar(0x1.0p-53));
    }

    /** {@code z ^ (z >>> s)}. */
    private static Tensor mix(Tensor z, int s) {
        return z.bitwise_xor(shiftRight(z, s));
    }

    /** {@code z >>> s} on int64. */
    private static Tensor shiftRight(Tensor z, int s) {
        return z.bitwise_right_shift(new Scalar((long) s)).bitwise_and(new Scalar((1L << (64 - s)) - 1));
    }
}
