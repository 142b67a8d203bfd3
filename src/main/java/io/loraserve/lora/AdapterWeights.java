package io.loraserve.lora;

import io.loraserve.lora.AdapterException.Reason;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import io.loraserve.model.WeightLayout;
import io.loraserve.tensor.SafeTensorsException;
import io.loraserve.tensor.SafeTensorsFile;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The host (CPU, float32) copy of one adapter's A and B matrices, validated against the base
 * model. Lifetime: adapter — created by {@link #load} on the loader thread, closed when the
 * adapter is unloaded and its last request has finished.
 *
 * <p>Invariants: {@code a(l,p)} is {@code [rank, in]} and {@code b(l,p)} is {@code [out, rank]} exactly where
 * the config targets the module holding projection {@code p} in layer {@code l}; both are finite. A module of
 * several projections (Phi-3's {@code qkv_proj}, {@code gate_up_proj}) is split into them: each gets a view of the
 * module's one {@code A} and of its own rows of {@code B}, so its bypass adds to q, k and v alike.
 */
public final class AdapterWeights implements AutoCloseable {
    static final String CONFIG = "adapter_config.json";
    static final String FILE = "adapter_model.safetensors";
    private static final String PREFIX = "base_model.model.";

    private final AdapterConfig config;
    private final Tensor[][] a;       // [layer][proj] -> [rank, in] or null (a view of owned)
    private final Tensor[][] b;       // [layer][proj] -> [out, rank] or null (a view of owned)
    private final double[][] scale;   // [layer][proj] -> the bypass factor where a is not null
    private final List<Tensor> owned; // the modules' A and B as read, and the views above
    private final WeightLayout layout;
    private final long bytes;

    private AdapterWeights(AdapterConfig config, Tensor[][] a, Tensor[][] b, double[][] scale, List<Tensor> owned,
                           WeightLayout layout, long bytes) {
        this.config = config;
        this.layout = layout;
        this.a = a;
        this.b = b;
        this.scale = scale;
        this.owned = owned;
        this.bytes = bytes;
    }

    /**
     * Reads {@code dir} (config + safetensors) for a base of shape {@code base}; refuses any adapter
     * that does not fit it, naming the adapter, the module and the reason, and allocates nothing then.
     * Its files may not lead out of {@code dir}.
     */
    public static AdapterWeights load(String name, Path dir, ModelConfig base, int maxRank) {
        return load(name, dir, new AdapterRoots(List.of(dir)), base, maxRank);
    }

    /** {@link #load(String, Path, ModelConfig, int)} for a directory under {@code roots}, which its files may not leave. */
    static AdapterWeights load(String name, Path dir, AdapterRoots roots, ModelConfig base, int maxRank) {
        Path configFile = roots.file(name, dir, CONFIG, Reason.CONFIG_UNREADABLE).orElseThrow(
                () -> new AdapterException(name, Reason.CONFIG_UNREADABLE, "no such file " + dir.resolve(CONFIG)));
        AdapterConfig config = AdapterConfig.parse(name, configFile);
        config.checkAgainst(base.layers(), base.layout());
        Optional<Path> weights = roots.file(name, dir, FILE, Reason.WEIGHTS_UNREADABLE);
        if (weights.isEmpty()) {
            if (Files.isRegularFile(dir.resolve("adapter_model.bin"))) {
                throw new AdapterException(name, Reason.PICKLE_ONLY,
                        "only adapter_model.bin (a pickle) is present; pickle files are never loaded,"
                                + " save the adapter as " + FILE);
            }
            throw new AdapterException(name, Reason.WEIGHTS_UNREADABLE, FILE + " is missing in " + dir);
        }
        Path file = weights.get();
        SafeTensorsFile st;
        try {
            st = SafeTensorsFile.open(file);
        } catch (SafeTensorsException e) {
            throw new AdapterException(name, AdapterException.Reason.WEIGHTS_UNREADABLE, e.getMessage(), e);
        }
        checkKeys(name, config, base, st, maxRank);
        int layers = base.layers();
        Tensor[][] a = new Tensor[layers][Proj.values().length];
        Tensor[][] b = new Tensor[layers][Proj.values().length];
        double[][] scale = new double[layers][Proj.values().length];
        List<Tensor> loaded = new ArrayList<>();
        long bytes = 0;
        try (SafeTensorsFile.Reader reader = st.reader()) {
            for (int l = 0; l < layers; l++) {
                for (WeightLayout.Module m : base.layout().modules()) {
                    String module = m.moduleName(l);
                    if (!config.targets(module)) {
                        continue;
                    }
                    Tensor ma = read(name, reader, key(module, "A"), loaded);  // [rank, in]
                    Tensor mb = read(name, reader, key(module, "B"), loaded);  // [module out, rank]
                    bytes += 4L * (ma.numel() + mb.numel());
                    for (Proj p : m.projs()) {
                        a[l][p.ordinal()] = own(ma.narrow(0, 0, ma.size(0)), loaded);
                        b[l][p.ordinal()] = own(mb.narrow(0, m.rowOf(base, p), base.outFeatures(p)), loaded);
                        scale[l][p.ordinal()] = config.scale(module);
                    }
                }
            }
        } catch (RuntimeException e) {
            loaded.forEach(Tensor::close);
            throw e;
        }
        return new AdapterWeights(config, a, b, scale, loaded, base.layout(), bytes);
    }

    private static Tensor own(Tensor t, List<Tensor> owned) {
        owned.add(t);
        return t;
    }

    /** Checks every key and shape from the header alone, before any tensor is read. */
    private static void checkKeys(String name, AdapterConfig config, ModelConfig base, SafeTensorsFile st, int maxRank) {
        Set<String> expected = new HashSet<>();
        for (int l = 0; l < base.layers(); l++) {
            for (WeightLayout.Module m : base.layout().modules()) {
                String module = m.moduleName(l);
                if (!config.targets(module)) {
                    continue;
                }
                int rank = config.rank(module);
                if (rank > maxRank) {
                    throw new AdapterException(name, AdapterException.Reason.RANK_TOO_LARGE, module + " has rank " + rank
                            + " but this server allows at most --max-lora-rank " + maxRank);
                }
                String ka = key(module, "A");
                String kb = key(module, "B");
                for (String k : List.of(ka, kb)) {
                    if (!st.names().contains(k)) {
                        throw new AdapterException(name, AdapterException.Reason.MISSING_WEIGHT,
                                module + " is targeted but " + FILE + " has no " + k);
                    }
                }
                checkShape(name, module, "lora_A", st.entry(ka).shape(), rank, m.inFeatures(base), true);
                checkShape(name, module, "lora_B", st.entry(kb).shape(), rank, m.outFeatures(base), false);
                expected.add(ka);
                expected.add(kb);
            }
        }
        for (String k : st.names()) {
            if (!expected.contains(k)) {
                throw new AdapterException(name, AdapterException.Reason.UNEXPECTED_WEIGHT, FILE + " holds " + k
                        + ", which no targeted decoder linear explains (LoRA on embeddings/lm_head, biases,"
                        + " DoRA magnitudes and modules_to_save are not served)");
            }
        }
    }

    private static void checkShape(String name, String module, String which, long[] shape, int rank, int features,
                                   boolean isA) {
        long[] want = isA ? new long[] {rank, features} : new long[] {features, rank};
        if (Arrays.equals(shape, want)) {
            return;
        }
        boolean featuresFit = shape.length == 2 && shape[isA ? 1 : 0] == features;
        if (featuresFit) {
            throw new AdapterException(name, AdapterException.Reason.RANK_MISMATCH, module + "." + which + " has shape "
                    + Arrays.toString(shape) + ": rank " + shape[isA ? 0 : 1] + " in the file, but the config gives "
                    + rank);
        }
        throw new AdapterException(name, AdapterException.Reason.SHAPE_MISMATCH, module + "." + which + " has shape "
                + Arrays.toString(shape) + " but this base model needs " + Arrays.toString(want)
                + " (was the adapter trained for another base model?)");
    }

    private static Tensor read(String name, SafeTensorsFile.Reader reader, String key, List<Tensor> loaded) {
        Tensor t;
        try {
            t = reader.newTensor(key, ScalarType.Float, new Device(torch.DeviceType.CPU));
        } catch (SafeTensorsException e) {
            throw new AdapterException(name, AdapterException.Reason.WEIGHTS_UNREADABLE, e.getMessage(), e);
        }
        loaded.add(t);
        if (!allFinite(t)) {
            throw new AdapterException(name, AdapterException.Reason.NON_FINITE, key + " holds NaN or infinity");
        }
        return t;
    }

    /**
     * Scans a contiguous float32 CPU tensor in plain Java: no libtorch op, so loading never takes
     * the intra-op thread pool away from the engine.
     */
    private static boolean allFinite(Tensor t) {
        long n = t.numel();
        try (FloatPointer p = t.data_ptr_float()) {
            FloatBuffer values = p.capacity(n).asBuffer();
            for (int i = 0; i < n; i++) {
                if (!Float.isFinite(values.get(i))) {
                    return false;
                }
            }
        }
        return true;
    }

    /** The weights-file key of {@code module}'s (e.g. {@code model.layers.0.self_attn.q_proj}) lora_A or lora_B. */
    static String key(String module, String ab) {
        return PREFIX + module + ".lora_" + ab + ".weight";
    }

    public AdapterConfig config() {
        return config;
    }

    /** [rank, in], or null where the module is not targeted. */
    public Tensor a(int layer, Proj p) {
        return a[layer][p.ordinal()];
    }

    /** [out, rank], or null where the module is not targeted. */
    public Tensor b(int layer, Proj p) {
        return b[layer][p.ordinal()];
    }

    /** The factor of {@code p}'s bypass {@code scale·B·(A·x)}: its module's {@link AdapterConfig#scale}. */
    public double scale(int layer, Proj p) {
        return scale[layer][p.ordinal()];
    }

    /** The largest rank of any targeted module. */
    public int maxRank() {
        int max = 0;
        for (Tensor[] row : a) {
            for (Tensor t : row) {
                if (t != null) {
                    max = Math.max(max, (int) t.size(0));
                }
            }
        }
        return max;
    }

    public long bytes() {
        return bytes;
    }

    /** Decoder layers of the base model these weights were validated against. */
    public int layers() {
        return a.length;
    }

    /** How the base model these weights were validated against names its decoder linears. */
    public WeightLayout layout() {
        return layout;
    }

    @Override
    public void close() {
        for (Tensor[][] ab : List.of(a, b)) {
            for (Tensor[] row : ab) {
                Arrays.fill(row, null);
            }
        }
        owned.forEach(Tensor::close);
        owned.clear();
    }
}
