package io.loraserve.model;

import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.nio.file.Path;

/**
 * A config's {@code rope_scaling}, as transformers' {@code ROPE_INIT_FUNCTIONS} turn it into the
 * rotary inverse frequencies. Implemented: {@code default} (none), {@code linear} (every
 * frequency ÷ factor, i.e. positions ÷ factor) and {@code llama3} (Llama 3.1+: wavelengths longer
 * than {@code original_max_position_embeddings / low_freq_factor} ÷ factor, shorter than
 * {@code … / high_freq_factor} kept, the band between blended). Every other type is refused by
 * name at start-up; none of these three changes the attention scale.
 *
 * @param type                 {@code default}, {@code linear} or {@code llama3}
 * @param factor               1 for {@code default}
 * @param lowFreqFactor        {@code llama3} only
 * @param highFreqFactor       {@code llama3} only
 * @param originalMaxPositions {@code llama3} only: the context length the model was pre-trained at
 */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                          int originalMaxPositions) {

    public static final RopeScaling NONE = new RopeScaling("default", 1, 0, 0, 0);

    /** Reads {@code rope_scaling} ({@code rope_type}, or the older {@code type} key); null or absent is none. */
    static RopeScaling parse(Path file, JsonValue value) {
        if (value == null || value == JsonValue.NULL) {
            return NONE;
        }
        JsonObject o = value.asJsonObject();
        String type = o.getString("rope_type", o.getString("type", "?"));
        return switch (type) {
            case "default" -> NONE;
            case "linear" -> new RopeScaling(type, factor(file, o), 0, 0, 0);
            case "llama3" -> {
                double low = positive(file, o, "low_freq_factor");
                double high = positive(file, o, "high_freq_factor");
                if (high <= low) {
                    throw new ModelLoadException(file + ": rope_scaling high_freq_factor " + high
                            + " must be above low_freq_factor " + low);
                }
                yield new RopeScaling(type, factor(file, o), low, high,
                        (int) positive(file, o, "original_max_position_embeddings"));
            }
            default -> throw new ModelLoadException(file + ": rope_scaling type " + type
                    + " is not implemented (implemented: default, linear, llama3)");
        };
    }

    private static double factor(Path file, JsonObject o) {
        return positive(file, o, "factor");
    }

    private static double positive(Path file, JsonObject o, String key) {
        if (!(o.get(key) instanceof JsonNumber n) || !(n.doubleValue() > 0)) {
            throw new ModelLoadException(file + ": rope_scaling " + key + " must be a positive number, got "
                    + o.get(key));
        }
        return n.doubleValue();
    }

    /**
     * The {@code headDim/2} inverse frequencies {@code θ^(-2i/headDim)}, scaled, in float64 (the
     * rotary tables of both kernels are computed from these).
     */
    double[] inverseFrequencies(double theta, int headDim) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            double f = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
            inv[i] = switch (type) {
                case "linear" -> f / factor;
                case "llama3" -> llama3(f);
                default -> f;
            };
        }
        return inv;
    }

    /** transformers' {@code _compute_llama3_parameters} for one frequency. */
    private double llama3(double f) {
        double wavelength = 2 * Math.PI / f;
        double lowFreqWavelength = originalMaxPositions / lowFreqFactor;
        double highFreqWavelength = originalMaxPositions / highFreqFactor;
        if (wavelength < highFreqWavelength) {
            return f;
        }
        if (wavelength > lowFreqWavelength) {
            return f / factor;
        }
        double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return (1 - smooth) * f / factor + smooth * f;
    }

    /** For the start-up log: {@code llama3 ×8 (original 8192)}, {@code linear ×2}, or {@code default}. */
    @Override
    public String toString() {
        return switch (type) {
            case "linear" -> "linear ×" + factor;
            case "llama3" -> "llama3 ×" + factor + " (original " + originalMaxPositions + ")";
            default -> "default";
        };
    }
}
